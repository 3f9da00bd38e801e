package adaptertest

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
)

// Parser is an adapter's stream parser as the harness drives it.
type Parser interface {
	// Parse reads r to its end; nil at a clean end of input.
	Parse(r io.Reader) error
	// Result is the answer collected by a Parse that returned nil.
	Result() *backends.ChatResult
}

// NewParser builds an adapter's stream parser for a request of model that hands each
// delta to onDelta. It should log nowhere (and allocate nothing beyond the parser, for
// the benchmark).
type NewParser func(model string, onDelta func(backends.Delta) error) Parser

// Parse runs a new parser for model over r and returns its result (nil when Parse failed),
// every delta it delivered, and Parse's error.
func Parse(newParser NewParser, model string, r io.Reader) (*backends.ChatResult, []backends.Delta, error) {
	var deltas []backends.Delta
	p := newParser(model, func(d backends.Delta) error {
		deltas = append(deltas, d)
		return nil
	})
	if err := p.Parse(r); err != nil {
		return nil, deltas, err
	}
	return p.Result(), deltas, nil
}

// parsed is the comparable outcome of one parse.
type parsed struct {
	res    *backends.ChatResult
	deltas []backends.Delta
	err    string
}

func parseAll(newParser NewParser, r io.Reader) parsed {
	res, deltas, err := Parse(newParser, "m", r)
	out := parsed{res: res, deltas: deltas}
	if err != nil {
		out.err = err.Error()
	}
	return out
}

// Fuzz runs the stream fuzz target over f's seeds (data []byte, split uint16): any byte
// stream parses without panic; reading it in other pieces (a split at split, one byte at a
// time after it) changes nothing; no delta is empty; the result always marshals, with
// valid UTF-8 for valid UTF-8 input, and its text equals the deltas it reported. The
// fallback model is "m".
func Fuzz(f *testing.F, newParser NewParser) {
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		whole := parseAll(newParser, bytes.NewReader(data))
		k := int(split) % (len(data) + 1)
		pieces := parseAll(newParser, io.MultiReader(bytes.NewReader(data[:k]), iotest.OneByteReader(bytes.NewReader(data[k:]))))
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

// FuzzScript is the answer the fuzz targets seed from: multibyte text cut mid-word across
// deltas, thinking, and one tool call with non-ASCII arguments.
func FuzzScript() backendtest.Script {
	sc := backendtest.Answer("Grü", "ße 世界 🎉").Thinking("hm")
	sc.ToolCalls = []backendtest.ToolCall{{Name: "f", Arguments: `{"a":[1,"ü"]}`}}
	return sc
}

// Tokens is a script of n deltas of kind, one " token" each.
func Tokens(kind backends.DeltaKind, n int) backendtest.Script {
	sc := backendtest.Script{}
	for range n {
		sc.Deltas = append(sc.Deltas, backends.Delta{Kind: kind, Text: " token"})
	}
	return sc
}

// BenchParse measures parsing body (a stream of tokens deltas) to its result with a
// parser for model, reported per streamed token as ns/token and allocs/token.
func BenchParse(b *testing.B, newParser NewParser, model string, body []byte, tokens int) {
	noop := func(backends.Delta) error { return nil }
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	for b.Loop() {
		p := newParser(model, noop)
		if err := p.Parse(bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
		p.Result()
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	n := float64(b.N) * float64(tokens)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/token")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/token")
}
