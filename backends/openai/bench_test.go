package openai

import (
	"testing"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/backends/internal/adaptertest"
)

// BenchmarkParseStream measures the SSE parse cost per streamed token (one chunk per
// token, as OpenAI-compatible servers send them), reported as ns/token and allocs/token.
func BenchmarkParseStream(b *testing.B) {
	for _, c := range []struct {
		name string
		fl   backendtest.Flavour
		kind backends.DeltaKind
	}{
		{"content_llama.cpp", backendtest.LlamaCpp, backends.KindContent},
		{"reasoning_vllm", backendtest.VLLM, backends.KindThinking},
	} {
		b.Run(c.name, func(b *testing.B) {
			const tokens = 1000
			body := backendtest.OpenAIStream(c.fl, adaptertest.Tokens(c.kind, tokens), "local-model", true)
			adaptertest.BenchParse(b, testParser, "local-model", body, tokens)
		})
	}
}
