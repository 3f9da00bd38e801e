package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pin-client/pin-client/backends/auto"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/selftest"
)

// watchedBuffer is a concurrency-safe buffer that tells waiters about every write.
type watchedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newWatchedBuffer() *watchedBuffer { return &watchedBuffer{changed: make(chan struct{})} }

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.changed)
	w.changed = make(chan struct{})
	return w.buf.Write(p)
}

func (w *watchedBuffer) String() string { w.mu.Lock(); defer w.mu.Unlock(); return w.buf.String() }

// waitFor blocks until the buffer contains s.
func (w *watchedBuffer) waitFor(ctx context.Context, s string) error {
	for {
		w.mu.Lock()
		ok, ch := strings.Contains(w.buf.String(), s), w.changed
		w.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// startGateway runs `pin-clientd gateway args...` until the test ends and returns the
// key=value lines it printed.
func startGateway(t *testing.T, args ...string) (vals map[string]string, stderr *watchedBuffer) {
	t.Helper()
	stdout, stderr := newWatchedBuffer(), newWatchedBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runGateway(ctx, args, cmdIO{Stdout: stdout, Stderr: stderr, Env: func(string) string { return "" }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway returned %v on cancel, want nil", err)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := stdout.waitFor(wctx, "# consumers:"); err != nil {
		t.Fatalf("gateway printed no credentials: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	vals = map[string]string{}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			vals[k] = v
		}
	}
	return vals, stderr
}

func TestGatewayPrintsCredentialsAndRelays(t *testing.T) {
	vals, stderr := startGateway(t, "--addr", "127.0.0.1:0", "--client-id", "op_dev")
	for _, k := range []string{"serverUrl", "clientId", "apiSecret", "consumerUrl"} {
		if vals[k] == "" {
			t.Fatalf("no %s= line: %v", k, vals)
		}
	}
	if vals["clientId"] != "op_dev" || !strings.HasPrefix(vals["serverUrl"], "ws://127.0.0.1:") ||
		!strings.HasPrefix(vals["consumerUrl"], "http://127.0.0.1:") || !strings.HasSuffix(vals["consumerUrl"], "/v1") ||
		!strings.HasPrefix(vals["apiSecret"], "pin_sk_local_") {
		t.Errorf("printed %v", vals)
	}

	// The printed credentials work: a real engine registers with them over SSE and a
	// consumer sees its model.
	f := backendtest.NewOllama(t, backendtest.Answer("hi"))
	f.SetModels("llama3:8b")
	cfg := &config.Config{ClientID: vals["clientId"], ServerURL: vals["serverUrl"], Transport: "sse",
		Nodes: []config.Node{{Alias: "dev", InferenceURI: f.URL, APIMode: "ollama", Region: "global", Capacity: 1}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	eng, err := core.New(core.Options{Config: cfg, Secret: protocol.NewSecret(vals["apiSecret"]), NewBackend: auto.Backend(nil)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ectx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(ectx) }()
	defer func() { stop(); <-done }()
	for st := range eng.Subscribe(ctx) {
		if st.State == core.StateOnline {
			break
		}
	}
	if err := stderr.waitFor(ctx, "node registered"); err != nil {
		t.Fatalf("the gateway never logged the registration: %v\n%s", err, stderr)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, vals["consumerUrl"]+"/models", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(body.String(), `"llama3:8b"`) {
		t.Errorf("GET /v1/models: %d %s", resp.StatusCode, body.String())
	}
	if strings.Contains(stderr.String(), vals["apiSecret"]) {
		t.Error("the secret appears in the gateway's log")
	}
}

func TestGatewaySecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vals, stderr := startGateway(t, "--addr", "127.0.0.1:0", "--secret-file", path)
	if vals["apiSecret"] != "" || vals["apiSecretFile"] != path || vals["clientId"] != "op_local" {
		t.Errorf("printed %v", vals)
	}
	if strings.Contains(stderr.String(), testSecret) {
		t.Error("the secret appears in the log")
	}
}

func TestGatewayRefusesNonLoopback(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "0.0.0.0:8788"}, "loopback only"},
		{[]string{"--addr", ":8788"}, "loopback only"},
		{[]string{"--addr", "192.168.1.10:8788"}, "loopback only"},
		{[]string{"--addr", "example.com:8788"}, "loopback only"},
		{[]string{"--addr", "8788"}, "want host:port"},
		{[]string{"--client-id", " "}, "--client-id"},
		{[]string{"--secret-file", filepath.Join(t.TempDir(), "none")}, "--secret-file"},
		{[]string{"stray"}, `unexpected argument "stray"`},
	}
	for _, tt := range tests {
		fio := &fakeIO{}
		err := runGateway(context.Background(), tt.args, fio.io())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want %q", tt.args, err, tt.want)
		}
		if fio.stdout.Len() != 0 {
			t.Errorf("%v: printed %q", tt.args, fio.stdout.String())
		}
	}
	for _, ok := range []string{"127.0.0.1:0", "[::1]:0", "localhost:0", "127.0.0.2:0"} {
		if err := loopbackAddr(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
}

func TestDevInterviewAndGrade(t *testing.T) {
	if selftest.GatewayInterview(pintest.Node{ID: "n1", Models: []string{"tts:x"}}) != nil {
		t.Fatal("a node without chat models must not be interviewed")
	}
	req := selftest.GatewayInterview(pintest.Node{ID: "n1", Models: []string{"tts:x", "llama3:8b", "qwen3:4b"}})
	if req == nil || req.Model != "llama3:8b" || len(req.Prompts) != len(selftest.DefaultPrompts) {
		t.Fatalf("interview = %+v", req)
	}
	if r := selftest.GatewayInterview(pintest.Node{ID: "n1", Models: []string{"a"}, InterviewModel: "b"}); r.Model != "b" {
		t.Fatalf("interviewModel not preferred: %s", r.Model)
	}
	res := &protocol.InterviewResult{InterviewID: "iv"}
	for _, p := range selftest.DefaultPrompts {
		res.Results = append(res.Results, protocol.PromptResult{PromptID: p.ID, Response: p.Expect + ".", TotalMs: 100, TokensGenerated: 3})
	}
	c := selftest.GatewayGrader("local gateway")(req, res).(*protocol.InterviewComplete)
	if c.Tier != "verified" || c.Accuracy != 100 || c.TokensPerSec != 30 || c.NodeID != "n1" {
		t.Fatalf("grade = %+v", c)
	}
	res.Results[0].Response = "Lyon"
	if c := selftest.GatewayGrader("local gateway")(req, res).(*protocol.InterviewComplete); c.Tier != "standard" || c.Accuracy < 83 || c.Accuracy > 84 {
		t.Fatalf("grade with 1 wrong = %+v", c)
	}
	res.Results[1].Error = "boom"
	if c := selftest.GatewayGrader("local gateway")(req, res).(*protocol.InterviewComplete); c.Tier != "failed" {
		t.Fatalf("grade with 2 wrong = %+v", c)
	}
}
