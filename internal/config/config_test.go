package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// seed is the example of pin-protocol.md §12.3, verbatim.
const seed = `{"clientId":"op_your_operator_id","apiSecret":"pin_sk_…","payoutAddress":"0x_your_bsc_wallet_address",
 "serverUrl":"wss://aiassist.net/api/v1/pin/ws","transport":"sse","reconnectDelaySecs":5,
 "nodes":[{"alias":"A6000-1","inferenceUri":"http://localhost:11434","apiMode":"ollama","region":"us-east",
   "capacity":10,"pricePerThousandTokens":0.001,"interviewModel":"llama3:8b",
   "ttsUri":"http://127.0.0.1:8880","ttsModels":["chatterbox-turbo"]}]}`

func TestSeedExample(t *testing.T) {
	cfg, _, err := Parse([]byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Nodes[0]
	if cfg.ClientID != "op_your_operator_id" || cfg.APISecret != "pin_sk_…" || cfg.PayoutAddress != "0x_your_bsc_wallet_address" ||
		cfg.ServerURL != DefaultServerURL || cfg.Transport != "sse" || cfg.ReconnectDelaySecs != 5 || cfg.UseWebSocket() {
		t.Errorf("root = %+v", cfg)
	}
	if n.Alias != "A6000-1" || n.InferenceURI != "http://localhost:11434" || n.APIMode != "ollama" || n.Region != "us-east" ||
		n.Capacity != 10 || n.Price() != 0.001 || n.InterviewModel != "llama3:8b" || n.TTSURI != "http://127.0.0.1:8880" ||
		len(n.TTSModels) != 1 || n.TTSModels[0] != "chatterbox-turbo" {
		t.Errorf("node = %+v", n)
	}
}

func TestExampleFiles(t *testing.T) {
	files, err := filepath.Glob("../../config*.example.json")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"config.example.json", "config.multi-node.example.json", "config.ollama.example.json", "config.openai.example.json"}
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("example files = %v, want %v", got, want)
	}
	modes := map[string]bool{}
	for _, f := range files {
		cfg, warnings, err := Load(f, nil)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, w := range warnings {
			// Placeholders are expected to warn; nothing else may.
			if !strings.HasPrefix(w, "payoutAddress:") {
				t.Errorf("%s: unexpected warning %q", f, w)
			}
		}
		for _, n := range cfg.Nodes {
			modes[n.APIMode] = true
		}
		if filepath.Base(f) == "config.multi-node.example.json" && len(cfg.Nodes) < 2 {
			t.Errorf("%s: %d nodes", f, len(cfg.Nodes))
		}
	}
	if !modes["ollama"] || !modes["openai"] {
		t.Errorf("examples cover api modes %v, want both", modes)
	}
}

// valid returns a minimal valid config as a JSON object to edit in tests.
func valid() map[string]any {
	return map[string]any{
		"clientId": "op_1",
		"nodes": []any{
			map[string]any{"alias": "a", "inferenceUri": "http://localhost:11434", "apiMode": "ollama", "region": "us-east", "capacity": 1},
			map[string]any{"alias": "b", "inferenceUri": "http://localhost:8000", "apiMode": "openai", "region": "eu-west", "capacity": 2},
		},
	}
}

func node(m map[string]any, i int) map[string]any { return m["nodes"].([]any)[i].(map[string]any) }

func TestRules(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(m map[string]any)
		wantErr string // substring of the error; "" = no error
		wantW   string // substring of some warning; "" = no warnings at all
	}{
		{"valid", func(m map[string]any) {}, "", ""},
		{"empty nodes", func(m map[string]any) { m["nodes"] = []any{} }, "nodes: empty; add at least one node", ""},
		{"null nodes", func(m map[string]any) { m["nodes"] = nil }, "nodes: empty", ""},
		{"missing nodes", func(m map[string]any) { delete(m, "nodes") }, "nodes: empty", ""},
		{"missing clientId", func(m map[string]any) { delete(m, "clientId") }, "clientId: missing; set it to your operator id", ""},
		{"odd clientId", func(m map[string]any) { m["clientId"] = "x1" }, "", `clientId: "x1" does not start with "op_"`},
		{"apiSecret optional", func(m map[string]any) { delete(m, "apiSecret") }, "", ""},
		{"odd apiSecret never echoed", func(m map[string]any) { m["apiSecret"] = "hunter2" }, "", "apiSecret: the value does not start"},
		{"unknown apiMode", func(m map[string]any) { node(m, 1)["apiMode"] = "olama" },
			`nodes[1].apiMode: "olama" is not a known API mode; use "ollama" or "openai"`, ""},
		{"apiMode case", func(m map[string]any) { node(m, 0)["apiMode"] = "OpenAI" }, `nodes[0].apiMode: "OpenAI" is not a known API mode; use "openai" (lower case)`, ""},
		{"missing apiMode", func(m map[string]any) { delete(node(m, 0), "apiMode") }, `nodes[0].apiMode: missing`, ""},
		{"zero capacity", func(m map[string]any) { node(m, 1)["capacity"] = 0 }, "nodes[1].capacity: 0 is not positive", ""},
		{"negative capacity", func(m map[string]any) { node(m, 0)["capacity"] = -3 }, "nodes[0].capacity: -3 is not positive", ""},
		{"missing capacity", func(m map[string]any) { delete(node(m, 0), "capacity") }, "nodes[0].capacity: 0 is not positive", ""},
		{"string capacity", func(m map[string]any) { node(m, 0)["capacity"] = "4" }, "nodes.capacity: expected a number, got a JSON string", ""},
		{"unknown region", func(m map[string]any) { node(m, 1)["region"] = "mars" }, "",
			`nodes[1].region: "mars" is not a documented region (us-east, us-west, eu-west, eu-central, asia-pacific, global)`},
		{"missing region", func(m map[string]any) { delete(node(m, 1), "region") }, "nodes[1].region: missing; use one of us-east", ""},
		{"missing alias", func(m map[string]any) { node(m, 0)["alias"] = " " }, "nodes[0].alias: missing", ""},
		{"duplicate alias", func(m map[string]any) { node(m, 1)["alias"] = "a" }, `nodes[1].alias: "a" is already used by nodes[0]`, ""},
		{"missing inferenceUri", func(m map[string]any) { delete(node(m, 0), "inferenceUri") }, "nodes[0].inferenceUri: missing", ""},
		{"bare host inferenceUri", func(m map[string]any) { node(m, 0)["inferenceUri"] = "localhost:11434" },
			`nodes[0].inferenceUri: "localhost:11434" is not an http(s) URL`, ""},
		{"bad ttsUri", func(m map[string]any) { node(m, 0)["ttsUri"] = "ftp://x" }, `nodes[0].ttsUri: "ftp://x" is not an http(s) URL`, ""},
		{"ttsModels without ttsUri", func(m map[string]any) { node(m, 1)["ttsModels"] = []string{"kokoro"} }, "",
			"nodes[1].ttsModels: ignored because nodes[1].ttsUri is not set"},
		{"tts prefix", func(m map[string]any) {
			node(m, 0)["ttsUri"] = "http://localhost:8880"
			node(m, 0)["ttsModels"] = []string{"tts:kokoro"}
		}, "",
			`nodes[0].ttsModels[0]: "tts:kokoro" already has the "tts:" prefix`},
		{"empty tts model", func(m map[string]any) {
			node(m, 0)["ttsUri"] = "http://localhost:8880"
			node(m, 0)["ttsModels"] = []string{"a", ""}
		},
			"nodes[0].ttsModels[1]: empty model name", ""},
		{"negative price", func(m map[string]any) { node(m, 0)["pricePerThousandTokens"] = -0.5 }, "nodes[0].pricePerThousandTokens: -0.5 is negative", ""},
		{"free is fine", func(m map[string]any) { node(m, 0)["pricePerThousandTokens"] = 0 }, "", ""},
		{"cleartext ws remote", func(m map[string]any) { m["serverUrl"] = "ws://gateway.example.com/api/v1/pin/ws" },
			`serverUrl: "ws://gateway.example.com/api/v1/pin/ws" is cleartext (ws://) to a non-loopback host; use wss:// or https://, or set "allowInsecure": true`, ""},
		{"cleartext http remote", func(m map[string]any) { m["serverUrl"] = "http://192.0.2.7/api/v1/pin" }, "serverUrl: \"http://192.0.2.7/api/v1/pin\" is cleartext (http://)", ""},
		{"cleartext allowed", func(m map[string]any) { m["serverUrl"] = "ws://gateway.example.com/ws"; m["allowInsecure"] = true }, "",
			"serverUrl: cleartext ws:// to gateway.example.com allowed by allowInsecure"},
		{"cleartext loopback v4", func(m map[string]any) { m["serverUrl"] = "ws://127.0.0.1:8080/api/v1/pin/ws" }, "", ""},
		{"cleartext loopback v6", func(m map[string]any) { m["serverUrl"] = "http://[::1]:8080/api/v1/pin" }, "", ""},
		{"cleartext localhost", func(m map[string]any) { m["serverUrl"] = "ws://localhost:8080/api/v1/pin/ws" }, "", ""},
		{"https ok", func(m map[string]any) { m["serverUrl"] = "https://aiassist.net/api/v1/pin" }, "", ""},
		{"bad url", func(m map[string]any) { m["serverUrl"] = "aiassist.net/api" }, `serverUrl: "aiassist.net/api" is not a valid URL; use e.g. "wss://`, ""},
		{"bad scheme", func(m map[string]any) { m["serverUrl"] = "ftp://aiassist.net/x" }, `serverUrl: scheme "ftp" is not supported`, ""},
		{"negative delay", func(m map[string]any) { m["reconnectDelaySecs"] = -1 }, "reconnectDelaySecs: -1 is negative", ""},
		{"transport ws", func(m map[string]any) { m["transport"] = "ws" }, "", ""},
		{"transport unknown", func(m map[string]any) { m["transport"] = "WS" }, "", `transport: "WS" is neither "sse" nor "ws"; using SSE`},
		{"unknown keys", func(m map[string]any) { m["server_url"] = "x"; m["zzz"] = 1; node(m, 1)["gpu"] = "a100" }, "",
			`unknown keys ignored: server_url (did you mean "serverUrl"?), zzz, nodes[1].gpu`},
		{"bad payout", func(m map[string]any) { m["payoutAddress"] = "0x12" }, "", "payoutAddress: not a 0x-prefixed"},
		{"metrics loopback", func(m map[string]any) { m["metricsAddr"] = "127.0.0.1:9464" }, "", ""},
		{"metrics localhost", func(m map[string]any) { m["metricsAddr"] = "localhost:9464" }, "", ""},
		{"metrics all interfaces", func(m map[string]any) { m["metricsAddr"] = ":9464" },
			`metricsAddr: ":9464" listens on every network interface, so anyone on the network could read your metrics; use "127.0.0.1:9464", or opt in with --metrics-allow-remote ("metricsAllowRemote": true in config.json)`, ""},
		{"metrics LAN", func(m map[string]any) { m["metricsAddr"] = "192.168.1.2:9464" }, `metricsAddr: "192.168.1.2:9464" is not a loopback address`, ""},
		{"metrics remote allowed", func(m map[string]any) { m["metricsAddr"] = "0.0.0.0:9464"; m["metricsAllowRemote"] = true }, "", ""},
		{"metrics no port", func(m map[string]any) { m["metricsAddr"] = "127.0.0.1" }, `metricsAddr: "127.0.0.1" is not host:port; use e.g. "127.0.0.1:9464"`, ""},
		{"metrics bad port", func(m map[string]any) { m["metricsAddr"] = "127.0.0.1:http" }, `metricsAddr: "127.0.0.1:http": port "http" is not a number`, ""},
		{"good payout", func(m map[string]any) { m["payoutAddress"] = "0x" + strings.Repeat("aB", 20) }, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			tt.edit(m)
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			cfg, warnings, err := Parse(data)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if cfg == nil {
					t.Fatal("nil config without error")
				}
			} else {
				if err == nil {
					t.Fatalf("no error, want %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
				if cfg != nil {
					t.Error("config returned with an error")
				}
			}
			all := strings.Join(warnings, "\n")
			if tt.wantW == "" && tt.wantErr == "" && len(warnings) > 0 {
				t.Errorf("unexpected warnings: %q", warnings)
			}
			if tt.wantW != "" && !strings.Contains(all, tt.wantW) {
				t.Errorf("warnings %q, want one containing %q", warnings, tt.wantW)
			}
			if strings.Contains(all, "hunter2") || (err != nil && strings.Contains(err.Error(), "hunter2")) {
				t.Error("the secret value was echoed")
			}
		})
	}
}

func TestFieldErrorType(t *testing.T) {
	m := valid()
	node(m, 1)["apiMode"] = "olama"
	data, _ := json.Marshal(m)
	_, _, err := Parse(data)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "nodes[1].apiMode" {
		t.Fatalf("err = %#v, want a *FieldError for nodes[1].apiMode", err)
	}
}

func TestDefaults(t *testing.T) {
	cfg, w, err := Parse([]byte(`{"clientId":"op_1","nodes":[{"alias":"a","inferenceUri":"http://localhost:11434","apiMode":"ollama","region":"global","capacity":1}]}`))
	if err != nil || len(w) != 0 {
		t.Fatal(err, w)
	}
	if cfg.ServerURL != DefaultServerURL || cfg.ReconnectDelaySecs != 5 || cfg.Transport != "sse" || cfg.Nodes[0].Price() != DefaultPrice ||
		cfg.Nodes[0].PricePerThousandTokens == nil {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	// Validate is idempotent and keeps explicit values.
	cfg.ReconnectDelaySecs = 30
	if err := cfg.Validate(); err != nil || cfg.ReconnectDelaySecs != 30 {
		t.Errorf("revalidate: %v, delay %d", err, cfg.ReconnectDelaySecs)
	}
	var zero Node
	if zero.Price() != DefaultPrice {
		t.Error("Price default")
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "the file is empty"},
		{"  \n", "the file is empty"},
		{"null", "the top level must be a JSON object"},
		{"[1]", "(top level): expected an object"},
		{"{\n  \"clientId\": \"op_1\"\n  \"nodes\": []\n}", "invalid JSON at line 3, column 3"},
		{`{"nodes": {"alias": "a"}}`, "nodes: expected a list [...], got a JSON object"},
		{`{"allowInsecure": "yes"}`, "allowInsecure: expected true or false"},
	}
	for _, tt := range tests {
		_, _, err := Parse([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
	// A UTF-8 BOM from Windows editors is tolerated.
	if _, _, err := Parse(append([]byte("\xef\xbb\xbf"), seed...)); err != nil {
		t.Errorf("BOM: %v", err)
	}
}

func TestValidateThreads(t *testing.T) {
	for _, n := range []int{0, -1} {
		err := ValidateThreads(n)
		if err == nil || !strings.Contains(err.Error(), "-n/--threads") || !strings.Contains(err.Error(), "use 1 or more") {
			t.Errorf("ValidateThreads(%d) = %v", n, err)
		}
	}
	if err := ValidateThreads(1); err != nil {
		t.Error(err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	_, _, err := Load(filepath.Join(dir, "nope.json"), nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	p := filepath.Join(dir, "c.json")
	m := valid()
	m["foo"] = 1
	m["transport"] = "quic"
	data, _ := json.Marshal(m)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	cfg, warnings, err := Load(p, log)
	if err != nil || cfg == nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 || strings.Count(buf.String(), "level=WARN") != 2 || !strings.Contains(buf.String(), "unknown keys ignored: foo") {
		t.Errorf("warnings %q, log %q", warnings, buf.String())
	}
	node(m, 0)["apiMode"] = "x"
	data, _ = json.Marshal(m)
	os.WriteFile(p, data, 0o600)
	if _, _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "nodes[0].apiMode") {
		t.Errorf("error %v should name the file and the field", err)
	}
}

func TestSave(t *testing.T) {
	cfg, _, err := Parse([]byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Save(p, false); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("apiSecret")) {
		t.Errorf("secret written although keepSecret=false:\n%s", data)
	}
	if cfg.APISecret == "" {
		t.Error("Save modified the config")
	}
	if runtime.GOOS != "windows" {
		st, _ := os.Stat(p)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", st.Mode().Perm())
		}
	}
	back, w, err := Parse(data)
	if err != nil || len(w) != 1 { // only the placeholder payout address warns
		t.Fatalf("round trip: %v %q", err, w)
	}
	back.APISecret = cfg.APISecret
	a, _ := json.Marshal(cfg)
	b, _ := json.Marshal(back)
	if !bytes.Equal(a, b) {
		t.Errorf("round trip differs:\n%s\n%s", a, b)
	}
	if err := cfg.Save(p, true); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(p)
	if !bytes.Contains(data, []byte(`"apiSecret": "pin_sk_…"`)) {
		t.Errorf("secret missing with keepSecret=true:\n%s", data)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
	if err := cfg.Save(filepath.Join(dir, "no", "such", "dir.json"), false); err == nil {
		t.Error("save into a missing folder succeeded")
	}
}
