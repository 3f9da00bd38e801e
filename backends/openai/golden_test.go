package openai_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/backends/openai"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenMessages is deliberately pretty-printed and holds characters that a default
// json.Marshal would HTML-escape: they must go upstream as written (compacted).
var goldenMessages = json.RawMessage(`[
  {"role": "system", "content": "Be <brief> & kind."},
  {"role": "user", "content": "Grüße, 世界 🎉", "name": "ana"},
  {"role": "tool", "tool_call_id": "call_1", "content": null}
]`)

var goldenTools = json.RawMessage(`[{"type":"function","function":{"name":"declare_role","parameters":{"type":"object","properties":{"role":{"type":"string"}}}}}]`)

func goldenCases() []struct {
	name   string
	stream bool
	req    backends.ChatRequest
} {
	temp, maxTok := 0.15, 64
	return []struct {
		name   string
		stream bool
		req    backends.ChatRequest
	}{
		{"plain", false, backends.ChatRequest{Model: "local-model", Messages: goldenMessages}},
		{"plain_stream", true, backends.ChatRequest{Model: "local-model", Messages: goldenMessages}},
		{"temperature_max_tokens", false, backends.ChatRequest{Model: "local-model", Messages: goldenMessages, Temperature: &temp, MaxTokens: &maxTok}},
		{"temperature_only_stream", true, backends.ChatRequest{Model: "local-model", Messages: goldenMessages, Temperature: &temp}},
		{"tool_choice_alone_stream", true, backends.ChatRequest{Model: "local-model", Messages: goldenMessages, ToolChoice: json.RawMessage(`"auto"`)}},
		{"tools_tool_choice", false, backends.ChatRequest{Model: "local-model", Messages: goldenMessages, Tools: goldenTools, ToolChoice: json.RawMessage(`"auto"`)}},
		{"tools_tool_choice_stream", true, backends.ChatRequest{Model: "local-model", Messages: goldenMessages, Temperature: &temp, MaxTokens: &maxTok, Tools: goldenTools, ToolChoice: json.RawMessage(`{"type":"function","function":{"name":"declare_role"}}`)}},
	}
}

// TestGoldenRequests pins the exact bytes sent to /v1/chat/completions (go test -update rewrites).
func TestGoldenRequests(t *testing.T) {
	f := backendtest.NewOpenAI(t, backendtest.LlamaCpp, backendtest.Answer("ok"))
	c := openai.New(f.URL+"//", openai.Options{})
	send := func(stream bool, req *backends.ChatRequest) []byte {
		t.Helper()
		var err error
		if stream {
			_, err = c.ChatStream(t.Context(), req, nil)
		} else {
			_, err = c.Chat(t.Context(), req)
		}
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		r, ok := f.LastRequest("/v1/chat/completions")
		if !ok {
			t.Fatalf("no request reached /api/chat")
		}
		return r.Body
	}
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := send(tc.stream, &tc.req)
			checkGolden(t, filepath.Join("testdata", "request_"+tc.name+".json"), got)
		})
	}
	// L5: absent or null tools and tool_choice leave the body byte-identical to a
	// request from before tools existed. (A non-streaming tool_choice without tools is
	// forwarded, §6.3; the streaming one is not: see request_tool_choice_alone_stream.)
	plain := send(false, &backends.ChatRequest{Model: "local-model", Messages: goldenMessages})
	for _, r := range []backends.ChatRequest{
		{Model: "local-model", Messages: goldenMessages, Tools: json.RawMessage("null"), ToolChoice: json.RawMessage(" null ")},
		{Model: "local-model", Messages: goldenMessages, Tools: json.RawMessage{}},
	} {
		if got := send(false, &r); !bytes.Equal(got, plain) {
			t.Errorf("request with tools=%q tool_choice=%q\n got %s\nwant %s", r.Tools, r.ToolChoice, got, plain)
		}
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("request body differs from %s\n got %s\nwant %s", path, got, want)
	}
}
