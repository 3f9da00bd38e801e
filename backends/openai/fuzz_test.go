package openai

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
	f.Add(backendtest.OpenAIStream(backendtest.LlamaCpp, sc, "m", true), uint16(7))
	sc.Noise = true
	f.Add(backendtest.OpenAIStream(backendtest.VLLM, sc, "m", true), uint16(3))
	sc.OmitDone = true
	f.Add(backendtest.OpenAIStream(backendtest.LMStudio, sc, "m", false), uint16(11))
	f.Add([]byte("data: {\"error\":\"boom\"}\n\nerror: {}\n"), uint16(1))
	f.Add([]byte(": c\r\ndata: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":-5},{\"id\":\"x\"},{\"id\":\"y\",\"function\":{\"arguments\":[1]}}]}}],\"usage\":{\"prompt_tokens\":1}}\ndata: [DONE]"), uint16(0))
	adaptertest.Fuzz(f, testParser)
}
