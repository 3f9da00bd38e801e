package openai_test

import (
	"encoding/json"
	"testing"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/backends/internal/adaptertest"
	"github.com/pin-client/pin-client/backends/openai"
)

// TestGoldenRequests pins the exact bytes sent to /v1/chat/completions (go test -update rewrites).
func TestGoldenRequests(t *testing.T) {
	f := backendtest.NewOpenAI(t, backendtest.LlamaCpp, backendtest.Answer("ok"))
	g := adaptertest.Golden{Backend: openai.New(f.URL+"//", openai.Options{}), Fake: f, Path: "/v1/chat/completions"}
	msgs := adaptertest.Messages
	g.Run(t, append(adaptertest.GoldenCases("local-model"), adaptertest.GoldenCase{
		Name: "tool_choice_alone_stream", Stream: true,
		Req: backends.ChatRequest{Model: "local-model", Messages: msgs, ToolChoice: json.RawMessage(`"auto"`)},
	}))
	// L5: absent or null tools and tool_choice leave the body byte-identical to a
	// request from before tools existed. (A non-streaming tool_choice without tools is
	// forwarded, §6.3; the streaming one is not: see request_tool_choice_alone_stream.)
	g.Identical(t, backends.ChatRequest{Model: "local-model", Messages: msgs},
		backends.ChatRequest{Model: "local-model", Messages: msgs, Tools: json.RawMessage("null"), ToolChoice: json.RawMessage(" null ")},
		backends.ChatRequest{Model: "local-model", Messages: msgs, Tools: json.RawMessage{}})
}
