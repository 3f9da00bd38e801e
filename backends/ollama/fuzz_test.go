package ollama

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
)

type parsed struct {
	res    *backends.ChatResult
	deltas []backends.Delta
	err    string
}

func parseAll(r io.Reader) parsed {
	var out parsed
	p := newParser(slog.New(slog.DiscardHandler), "m", func(d backends.Delta) error {
		out.deltas = append(out.deltas, d)
		return nil
	})
	if err := p.Parse(r); err != nil {
		out.err = err.Error()
		return out
	}
	out.res = p.Result()
	return out
}

// FuzzParseStream: any byte stream parses without panic; reading it in other pieces
// changes nothing; the result always marshals and equals the deltas it reported.
func FuzzParseStream(f *testing.F) {
	sc := backendtest.Answer("Grü", "ße 世界 🎉").Thinking("hm")
	sc.ToolCalls = []backendtest.ToolCall{{Name: "f", Arguments: `{"a":[1,"ü"]}`}}
	f.Add(backendtest.OllamaStream(sc, "m"), uint16(7))
	sc.Noise, sc.OmitDone = true, true
	f.Add(backendtest.OllamaStream(sc, "m"), uint16(3))
	f.Add([]byte(`{"error":"boom"}`+"\n"), uint16(1))
	f.Add([]byte("\r\n\n{\"message\":{\"tool_calls\":[null,1]}}\n{\"done\":true,\"eval_count\":-1}"), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		whole := parseAll(bytes.NewReader(data))
		k := int(split) % (len(data) + 1)
		pieces := parseAll(io.MultiReader(bytes.NewReader(data[:k]), iotest.OneByteReader(bytes.NewReader(data[k:]))))
		if !reflect.DeepEqual(whole, pieces) {
			t.Fatalf("split at %d changed the outcome:\n whole %+v\npieces %+v", k, whole, pieces)
		}
		var content, thinking strings.Builder
		for _, d := range whole.deltas {
			if d.Text == "" {
				t.Fatalf("empty delta")
			}
			if d.Kind == backends.KindThinking {
				thinking.WriteString(d.Text)
			} else {
				content.WriteString(d.Text)
			}
		}
		if whole.res == nil {
			return
		}
		m := whole.res.Choices[0].Message
		if m.Content != content.String() || m.Thinking != thinking.String() {
			t.Fatalf("result text differs from its deltas")
		}
		b, err := json.Marshal(whole.res)
		if err != nil || !json.Valid(b) {
			t.Fatalf("result does not marshal: %v", err)
		}
		if utf8.Valid(data) && !utf8.Valid(b) {
			t.Fatalf("valid UTF-8 input gave invalid output")
		}
	})
}
