package ollama

import (
	"testing"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/backends/internal/adaptertest"
)

// BenchmarkParseStream measures the NDJSON parse cost per streamed token (one frame per
// token, as Ollama sends it), reported as ns/token and allocs/token.
func BenchmarkParseStream(b *testing.B) {
	for _, c := range []struct {
		name string
		kind backends.DeltaKind
	}{{"content", backends.KindContent}, {"thinking", backends.KindThinking}} {
		b.Run(c.name, func(b *testing.B) {
			const tokens = 1000
			body := backendtest.OllamaStream(adaptertest.Tokens(c.kind, tokens), "llama3:8b")
			adaptertest.BenchParse(b, testParser, "llama3:8b", body, tokens)
		})
	}
}
