package ollama_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/backends/internal/adaptertest"
	"github.com/pin-client/pin-client/backends/ollama"
)

func TestNonStreamingErrorBody(t *testing.T) {
	f := backendtest.NewOllama(t, backendtest.Script{Raw: []byte(`{"error":"unexpected server status"}`)})
	_, err := ollama.New(f.URL, ollama.Options{}).Chat(t.Context(), &backends.ChatRequest{Model: "m", Messages: json.RawMessage(`[]`)})
	if err == nil || !strings.Contains(err.Error(), "unexpected server status") {
		t.Fatalf("err = %v, want the server's error", err)
	}
}

func TestBadRequests(t *testing.T) {
	c := ollama.New("http://127.0.0.1:1", ollama.Options{})
	for _, req := range []*backends.ChatRequest{nil, {Model: "m"}, {Model: "m", Messages: json.RawMessage(`{"role":"user"}`)}, {Model: "m", Messages: json.RawMessage(`[1,`)}} {
		_, err := c.Chat(context.Background(), req)
		if err == nil || errors.Is(err, backends.ErrUnreachable) {
			t.Errorf("Chat(%+v) = %v; want a request error before any network use", req, err)
		}
	}
}

// TestLogging: diagnostics at debug level, warnings for thinking-only and truncated
// answers, and never a word of prompt or answer text, at any level.
func TestLogging(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sc := backendtest.Answer("SECRET-ANSWER").Thinking("SECRET-THOUGHT")
	sc.Noise = true
	f := backendtest.NewOllama(t, sc)
	c := ollama.New(f.URL, ollama.Options{Logger: log})
	req := &backends.ChatRequest{Model: "m", Messages: json.RawMessage(`[{"role":"user","content":"SECRET-PROMPT"}]`)}
	for _, stream := range []bool{false, true} {
		if _, err := adaptertest.Chat(t.Context(), c, stream, req); err != nil {
			t.Fatal(err)
		}
	}
	f.SetScript(backendtest.Script{Raw: []byte(`{"message":{"content":"SECRET-BROKEN` + "\n" + `{"message":{"thinking":"SECRET-ONLY"}}` + "\n")})
	if _, err := c.ChatStream(t.Context(), req, nil); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "SECRET") {
		t.Errorf("logs contain prompt or answer text:\n%s", out)
	}
	for _, want := range []string{`"msg":"chat request sent"`, `"msg":"stream opened"`, `"msg":"first delta"`, `"msg":"stream ended"`,
		`"msg":"chat answered"`, `"level":"WARN","msg":"skipped malformed stream line"`, "raise max_tokens", "without a done frame"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, `"level":"INFO"`) || strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("unexpected info/error log from an adapter: %s", line)
		}
	}
}
