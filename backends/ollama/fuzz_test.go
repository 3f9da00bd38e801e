package ollama

import (
	"testing"

	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/backends/internal/adaptertest"
)

// FuzzParseStream: any byte stream parses without panic; reading it in other pieces
// changes nothing; the result always marshals and equals the deltas it reported
// (adaptertest.Fuzz).
func FuzzParseStream(f *testing.F) {
	sc := adaptertest.FuzzScript()
	f.Add(backendtest.OllamaStream(sc, "m"), uint16(7))
	sc.Noise, sc.OmitDone = true, true
	f.Add(backendtest.OllamaStream(sc, "m"), uint16(3))
	f.Add([]byte(`{"error":"boom"}`+"\n"), uint16(1))
	f.Add([]byte("\r\n\n{\"message\":{\"tool_calls\":[null,1]}}\n{\"done\":true,\"eval_count\":-1}"), uint16(0))
	adaptertest.Fuzz(f, testParser)
}
