package setupcli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/pin-client/pin-client/backends/detect"
	"github.com/pin-client/pin-client/internal/config"
)

// Minimal fakes with the documented answer shapes (see backends/detect for the full set).
func fake(t *testing.T, routes map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func ollamaFake(t *testing.T) *httptest.Server {
	return fake(t, map[string]string{
		"/api/version": `{"version":"0.12.6"}`,
		"/api/tags":    `{"models":[{"name":"llama3.2:3b","model":"llama3.2:3b"},{"name":"qwen3:8b","model":"qwen3:8b"}]}`,
		"/api/ps":      `{"models":[{"name":"llama3.2:3b","model":"llama3.2:3b","size":3000000000,"size_vram":3000000000,"context_length":8192}]}`,
		"/api/show":    `{"capabilities":["completion","tools"],"model_info":{"llama.context_length":131072}}`,
	})
}

func lmStudioFake(t *testing.T) *httptest.Server {
	return fake(t, map[string]string{
		"/api/v0/models": `{"object":"list","data":[{"id":"meta-llama-3.1-8b-instruct","object":"model","type":"llm","state":"loaded","max_context_length":131072}]}`,
		"/v1/models":     `{"object":"list","data":[{"id":"meta-llama-3.1-8b-instruct","object":"model","owned_by":"organization_owner"}]}`,
	})
}

// at routes dials for well-known addresses to fakes; every other address is refused, so
// tests never reach a real server on this machine.
func at(m map[string]*httptest.Server) func(*detect.Options) {
	return func(o *detect.Options) {
		o.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			srv, ok := m[addr]
			if !ok {
				return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
			}
			var d net.Dialer
			return d.DialContext(ctx, network, srv.Listener.Addr().String())
		}
	}
}

type env map[string]string

func (e env) get(k string) string { return e[k] }

// testIO returns an IO over buffers; terminal input is stdin when non-nil.
func testIO(servers map[string]*httptest.Server, e env, stdin *string) (IO, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	io := IO{
		Stdout: &out, Stderr: &errb, Env: e.get,
		Hostname: func() (string, error) { return "GPU-Box.local", nil },
		adjust:   at(servers),
	}
	if stdin != nil {
		io.Stdin = strings.NewReader(*stdin)
		io.IsTerminal = func() bool { return true }
	} else {
		io.IsTerminal = func() bool { return false }
	}
	return io, &out, &errb
}

func TestDetectTableAndJSON(t *testing.T) {
	servers := map[string]*httptest.Server{"127.0.0.1:11434": ollamaFake(t), "127.0.0.1:1234": lmStudioFake(t)}

	io, out, _ := testIO(servers, env{}, nil)
	if err := Detect(context.Background(), nil, io); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`Ollama 0.12.6 at http://127.0.0.1:11434  apiMode "ollama"  parallel 1`,
		`llama3.2:3b  yes     8192/131072  yes`,
		`LM Studio at http://127.0.0.1:1234  apiMode "openai"`,
		"pin-clientd init",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	io, out, _ = testIO(servers, env{}, nil)
	if err := Detect(context.Background(), []string{"--json"}, io); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		URL, Kind, APIMode string
		Models             []struct{ Name string }
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if len(got) != 2 || got[0].Kind != "ollama" || got[1].APIMode != "openai" || len(got[0].Models) != 2 {
		t.Errorf("got %+v", got)
	}
}

func TestDetectNothingFound(t *testing.T) {
	io, out, _ := testIO(nil, env{}, nil)
	if err := Detect(context.Background(), []string{"--json"}, io); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) != "[]" {
		t.Errorf("--json with nothing found: %q, want []", out)
	}
	io, out, _ = testIO(nil, env{}, nil)
	if err := Detect(context.Background(), []string{"--host", "gpu-box:9000"}, io); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "No LLM server found on gpu-box (ports 11434, 1234, 8000, 8080, 5001, 1337, 3000, 9000)") {
		t.Errorf("got %q", out)
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		cmd  func(context.Context, []string, IO) error
		args []string
		want string
	}{
		{Detect, []string{"--port", "eighty"}, `--port "eighty"`},
		{Detect, []string{"--port", "70000"}, `--port "70000"`},
		{Detect, []string{"--host", "gpu box"}, `--host "gpu box"`},
		{Detect, []string{"--host", "gpu-box:0"}, `--host "gpu-box:0"`},
		{Detect, []string{"--timeout", "1ns"}, "--timeout"},
		{Detect, []string{"gpu-box"}, `unexpected argument "gpu-box"`},
		{Init, []string{"--api-mode", "olama", "--url", "http://x"}, `--api-mode "olama"`},
		{Init, []string{"--api-mode", "openai"}, "--api-mode needs --url"},
		{Init, []string{"--region", "mars"}, `--region: "mars" is not a region`},
		{Init, []string{"--client-id", "abc"}, "does not start with op_"},
		{Init, []string{"--price", "-1"}, "--price -1"},
		{Init, []string{"--capacity", "-2"}, "--capacity -2"},
	}
	for _, tt := range tests {
		io, _, _ := testIO(nil, env{}, nil)
		err := tt.cmd(context.Background(), tt.args, io)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err = %v, want one line containing %q", tt.args, err, tt.want)
		}
	}
	io, _, _ := testIO(nil, env{}, nil)
	if err := Detect(context.Background(), []string{"-h"}, io); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestSplitHostFlag(t *testing.T) {
	for in, want := range map[string]string{
		"gpu-box":                   "gpu-box 0",
		"10.0.0.5:8080":             "10.0.0.5 8080",
		"::1":                       "::1 0",
		"[::1]:1234":                "::1 1234",
		"http://gpu-box:11434/":     "gpu-box 11434",
		"https://gpu-box.lan:8443/": "gpu-box.lan 8443",
	} {
		h, p, err := splitHostFlag(in)
		if err != nil || h+" "+itoa(p) != want {
			t.Errorf("%q: got %q %d %v, want %q", in, h, p, err, want)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestInitWritesConfigThatLoads(t *testing.T) {
	servers := map[string]*httptest.Server{"127.0.0.1:11434": ollamaFake(t), "[::1]:1234": lmStudioFake(t)}
	path := filepath.Join(t.TempDir(), "config.json")
	io, out, _ := testIO(servers, env{"OLLAMA_NUM_PARALLEL": "2", "PIN_API_SECRET": "pin_sk_do_not_write"}, nil)

	err := Init(context.Background(), []string{"-c", path, "--client-id", "op_test123", "--region", "eu-west"}, io)
	if err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := config.Load(path, nil)
	if err != nil {
		t.Fatalf("the written config does not load: %v", err)
	}
	if len(warnings) != 0 {
		t.Errorf("loader warnings: %v", warnings)
	}
	if cfg.ClientID != "op_test123" || cfg.APISecret != "" {
		t.Errorf("clientId %q apiSecret %q", cfg.ClientID, cfg.APISecret)
	}
	want := []config.Node{
		{Alias: "gpu-box-ollama", InferenceURI: "http://127.0.0.1:11434", APIMode: "ollama", Region: "eu-west", Capacity: 2},
		{Alias: "gpu-box-lmstudio", InferenceURI: "http://[::1]:1234", APIMode: "openai", Region: "eu-west", Capacity: 1},
	}
	if len(cfg.Nodes) != len(want) {
		t.Fatalf("nodes: %+v", cfg.Nodes)
	}
	for i, w := range want {
		g := cfg.Nodes[i]
		if g.Alias != w.Alias || g.InferenceURI != w.InferenceURI || g.APIMode != w.APIMode || g.Region != w.Region ||
			g.Capacity != w.Capacity || g.Price() != config.DefaultPrice || g.PricePerThousandTokens == nil {
			t.Errorf("node %d: got %+v, want %+v with price 0.001", i, g, w)
		}
	}

	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("pin_sk_")) || bytes.Contains(raw, []byte("apiSecret")) {
		t.Errorf("the secret went into the file:\n%s", raw)
	}
	if !bytes.Contains(raw, []byte(`"pricePerThousandTokens": 0.001`)) {
		t.Errorf("price not written explicitly:\n%s", raw)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode().Perm())
		}
	}
	for _, w := range []string{"Wrote " + path + " with 2 nodes", "pin-clientd secret set -c " + path, "PIN_API_SECRET", "pin-clientd -c " + path + " -n 3"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out.String(), "pin_sk_do_not_write") {
		t.Error("the secret was printed")
	}
}

func TestInitNeverOverwritesWithoutForce(t *testing.T) {
	servers := map[string]*httptest.Server{"127.0.0.1:11434": ollamaFake(t)}
	path := filepath.Join(t.TempDir(), "config.json")
	old := `{"clientId":"op_old","apiSecret":"pin_sk_old","payoutAddress":"0x1111111111111111111111111111111111111111","nodes":[{"alias":"a","inferenceUri":"http://x:1","apiMode":"ollama","region":"asia-pacific","capacity":1}]}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}

	io, _, _ := testIO(servers, env{}, nil)
	err := Init(context.Background(), []string{"-c", path}, io)
	if err == nil || !strings.Contains(err.Error(), "already exists; pass --force") {
		t.Fatalf("err = %v, want a refusal naming --force", err)
	}
	if b, _ := os.ReadFile(path); string(b) != old {
		t.Fatal("the file changed without --force")
	}

	// --force: client id, region and payout address default to the old file's.
	io, out, _ := testIO(servers, env{}, nil)
	if err := Init(context.Background(), []string{"-c", path, "--force"}, io); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientID != "op_old" || cfg.Nodes[0].Region != "asia-pacific" || cfg.PayoutAddress != "0x1111111111111111111111111111111111111111" || cfg.APISecret != "" {
		t.Errorf("got %+v", cfg)
	}
	if !strings.Contains(out.String(), "held an apiSecret; it was not carried over") {
		t.Errorf("no word about the dropped secret:\n%s", out)
	}
}

func TestInitNotATerminalNeedsFlags(t *testing.T) {
	servers := map[string]*httptest.Server{"127.0.0.1:11434": ollamaFake(t)}
	dir := t.TempDir()
	io, _, _ := testIO(servers, env{}, nil)
	err := Init(context.Background(), []string{"-c", filepath.Join(dir, "c.json"), "--client-id", "op_x"}, io)
	if err == nil || !strings.Contains(err.Error(), "--region is required when stdin is not a terminal") {
		t.Fatalf("err = %v", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "c.json")); serr == nil {
		t.Error("a file was written despite the error")
	}
}

func TestInitPromptsOnATerminal(t *testing.T) {
	servers := map[string]*httptest.Server{"127.0.0.1:11434": ollamaFake(t)}
	path := filepath.Join(t.TempDir(), "config.json")
	input := "op_abc\nmars\nus-west\n"
	io, out, _ := testIO(servers, env{}, &input)
	if err := Init(context.Background(), []string{"-c", path}, io); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"mars" is not a region`) {
		t.Errorf("bad region not explained:\n%s", out)
	}
	cfg, _, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientID != "op_abc" || cfg.Nodes[0].Region != "us-west" {
		t.Errorf("got clientId %q region %q", cfg.ClientID, cfg.Nodes[0].Region)
	}

	// Input ends before a region is given: a clear error, no file.
	path2 := filepath.Join(t.TempDir(), "config.json")
	input = "op_abc\n"
	io, _, _ = testIO(servers, env{}, &input)
	err = Init(context.Background(), []string{"-c", path2}, io)
	if err == nil || !strings.Contains(err.Error(), "--region: no answer") {
		t.Fatalf("err = %v", err)
	}
}

func TestInitWithURL(t *testing.T) {
	lms := lmStudioFake(t)
	servers := map[string]*httptest.Server{"127.0.0.1:1234": lms}
	base := []string{"--client-id", "op_x", "--region", "global"}

	io, _, _ := testIO(servers, env{}, nil)
	err := Init(context.Background(), append(base, "-c", filepath.Join(t.TempDir(), "c.json"), "--url", "http://127.0.0.1:1234", "--api-mode", "ollama"), io)
	if err == nil || !strings.Contains(err.Error(), "use --api-mode openai") {
		t.Fatalf("mode mismatch: err = %v", err)
	}

	io, _, _ = testIO(servers, env{}, nil)
	err = Init(context.Background(), append(base, "-c", filepath.Join(t.TempDir(), "c.json"), "--url", "http://127.0.0.1:11434"), io)
	if err == nil || !strings.Contains(err.Error(), "nothing answers at http://127.0.0.1:11434") || !strings.Contains(err.Error(), "--api-mode") {
		t.Fatalf("unreachable: err = %v", err)
	}

	// With --api-mode the node is written anyway, for a server not started yet.
	path := filepath.Join(t.TempDir(), "c.json")
	io, _, errb := testIO(servers, env{}, nil)
	err = Init(context.Background(), append(base, "-c", path, "--url", "http://127.0.0.1:11434/", "--api-mode", "ollama", "--alias", "Rig-1", "--capacity", "4"), io)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "warning:") {
		t.Errorf("no warning on stderr: %q", errb)
	}
	cfg, _, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Nodes[0]
	if n.Alias != "Rig-1" || n.InferenceURI != "http://127.0.0.1:11434" || n.APIMode != "ollama" || n.Capacity != 4 {
		t.Errorf("got %+v", n)
	}
}

func TestInitNamesTwoServersOfOneKindApart(t *testing.T) {
	servers := map[string]*httptest.Server{"127.0.0.1:11434": ollamaFake(t), "127.0.0.1:11500": ollamaFake(t)}
	path := filepath.Join(t.TempDir(), "c.json")
	args := []string{"-c", path, "--client-id", "op_x", "--region", "global", "--port", "11500"}
	io, _, _ := testIO(servers, env{}, nil)
	if err := Init(context.Background(), args, io); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Nodes) != 2 || cfg.Nodes[0].Alias != "gpu-box-ollama-11434" || cfg.Nodes[1].Alias != "gpu-box-ollama-11500" {
		t.Errorf("got %+v", cfg.Nodes)
	}

	io, _, _ = testIO(servers, env{}, nil)
	err = Init(context.Background(), append(args, "--force", "--alias", "one"), io)
	if err == nil || !strings.Contains(err.Error(), "--alias names one node, but 2 servers") {
		t.Errorf("err = %v", err)
	}
}

func TestInitNothingFound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	io, _, _ := testIO(nil, env{}, nil)
	err := Init(context.Background(), []string{"-c", path, "--client-id", "op_x", "--region", "global"}, io)
	if err == nil || !strings.Contains(err.Error(), "no LLM server with a chat model found") || !strings.Contains(err.Error(), "--url") {
		t.Fatalf("err = %v", err)
	}
}

func TestAliasPart(t *testing.T) {
	for in, want := range map[string]string{
		"GPU-Box.local":                       "gpu-box",
		"my_rig 2":                            "my-rig-2",
		"":                                    "node",
		"---":                                 "node",
		"Ünïcode-host.lan":                    "n-code-host",
		"averyveryverylonghostnamethatgoeson": "averyveryverylonghostnam",
	} {
		if got := aliasPart(in); got != want {
			t.Errorf("aliasPart(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPortOf(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:11434": "11434",
		"http://[::1]:1234":      "1234",
		"http://gpu-box":         "80",
		"https://gpu-box/llm":    "443",
	} {
		if got := portOf(in); got != want {
			t.Errorf("portOf(%q) = %q, want %q", in, got, want)
		}
	}
}
