package ollama_test

import (
	"encoding/json"
	"testing"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/backends/internal/adaptertest"
	"github.com/pin-client/pin-client/backends/ollama"
)

// TestGoldenRequests pins the exact bytes sent to /api/chat (go test -update rewrites).
func TestGoldenRequests(t *testing.T) {
	f := backendtest.NewOllama(t, backendtest.Answer("ok"))
	g := adaptertest.Golden{Backend: ollama.New(f.URL+"//", ollama.Options{}), Fake: f, Path: "/api/chat"}
	g.Run(t, adaptertest.GoldenCases("llama3:8b"))
	// L5: absent or null tools and tool_choice leave the body byte-identical to a
	// request from before tools existed (tool_choice never goes to Ollama).
	msgs := adaptertest.Messages
	g.Identical(t, backends.ChatRequest{Model: "llama3:8b", Messages: msgs},
		backends.ChatRequest{Model: "llama3:8b", Messages: msgs, Tools: json.RawMessage("null"), ToolChoice: json.RawMessage(" null ")},
		backends.ChatRequest{Model: "llama3:8b", Messages: msgs, Tools: json.RawMessage{}, ToolChoice: json.RawMessage(`"auto"`)})
}
