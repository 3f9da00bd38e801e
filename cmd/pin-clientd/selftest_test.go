package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/backends/detect"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/selftest"
)

// rightAnswers answers the self-test's prompts correctly and fast (1000 tokens, first
// token after 1 ms: far above 20 tok/s on any machine).
func rightAnswers(r backendtest.Request) backendtest.Script {
	s := backendtest.Answer("1 2 3")
	for _, p := range selftest.DefaultPrompts {
		if strings.Contains(string(r.Body), p.Prompt) {
			s = backendtest.Answer(p.Expect)
		}
	}
	s.Usage = &backends.Usage{PromptTokens: 5, CompletionTokens: 1000, TotalTokens: 1005}
	s.TTFT = time.Millisecond
	return s
}

func selftestConfig(t *testing.T, uri, mode string) string {
	t.Helper()
	old := selftestDetect
	selftestDetect = detect.Options{GPU: func() detect.Tri { return detect.No }}
	t.Cleanup(func() { selftestDetect = old })
	cfg := &config.Config{ClientID: "op_cmdtest", APISecret: testSecret, Nodes: []config.Node{{
		Alias: "node-a", InferenceURI: uri, APIMode: mode, Region: "global", Capacity: 1,
	}}}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func selftestCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSelftestPassingNodeExitsZero(t *testing.T) {
	f := backendtest.NewOllama(t, backendtest.Script{})
	f.SetResponder(rightAnswers)
	path := selftestConfig(t, f.URL, "ollama")
	fio := &fakeIO{env: map[string]string{"PIN_API_SECRET": "pin_sk_env_not_needed"}}
	if err := runSelftest(selftestCtx(t), []string{"-c", path}, fio.io()); err != nil {
		t.Fatalf("err %v\nstdout:\n%s\nstderr:\n%s", err, fio.stdout.String(), fio.stderr.String())
	}
	out := fio.stdout.String()
	for _, want := range []string{"[node-a] warming llama3:8b (not timed)", "node-a  llama3:8b  100% (6/6)", "verified", "TTFT p50", "TOK/S"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	all := out + fio.stderr.String()
	for _, secret := range []string{testSecret, "pin_sk_env_not_needed"} {
		if strings.Contains(all, secret) {
			t.Errorf("a secret appears in the output")
		}
	}
}

func TestSelftestFailingNodeExitsOne(t *testing.T) {
	f := backendtest.NewOpenAI(t, backendtest.LlamaCpp, backendtest.Answer(" hello", " hello"))
	path := selftestConfig(t, f.URL, "openai")
	fio := &fakeIO{}
	err := runSelftest(selftestCtx(t), []string{"-c", path}, fio.io())
	if !errors.Is(err, errSilent) {
		t.Fatalf("err = %v, want errSilent (exit 1 without another line)\n%s", err, fio.stdout.String())
	}
	out := fio.stdout.String()
	if !strings.Contains(out, "node-a would fail the interview") || !strings.Contains(out, "accuracy 0% (0 of 6)") {
		t.Errorf("stdout:\n%s", out)
	}
}

func TestSelftestJSON(t *testing.T) {
	f := backendtest.NewOllama(t, backendtest.Script{})
	f.SetResponder(rightAnswers)
	path := selftestConfig(t, f.URL, "ollama")
	fio := &fakeIO{}
	if err := runSelftest(selftestCtx(t), []string{"--json", "-c", path, "-n", "1"}, fio.io()); err != nil {
		t.Fatal(err)
	}
	var rep selftest.Report
	if err := json.Unmarshal(fio.stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not only JSON: %v\n%s", err, fio.stdout.String())
	}
	if len(rep.Nodes) != 1 || rep.Nodes[0].Tier != selftest.TierVerified || len(rep.Nodes[0].TTFTMs) != selftest.DefaultStreams {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(fio.stderr.String(), "warming llama3:8b (not timed)") {
		t.Errorf("progress not on stderr:\n%s", fio.stderr.String())
	}
}

func TestSelftestBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-n", "0"}, "-n/--threads: 0"},
		{[]string{"-c", filepath.Join(dir, "missing.json")}, "read config"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-l", "loud"}, "-l/--log-level"},
	}
	for _, tt := range tests {
		fio := &fakeIO{}
		err := runSelftest(context.Background(), tt.args, fio.io())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want %q", tt.args, err, tt.want)
		}
	}
}
