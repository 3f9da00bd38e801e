package ollama

import (
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/internal/adaptertest"
	"github.com/pin-client/pin-client/backends/internal/wire"
)

// discard is the logger of every test parser.
var discard = slog.New(slog.DiscardHandler)

// testParser is this adapter's parser for the shared harness (adaptertest).
func testParser(model string, onDelta func(backends.Delta) error) adaptertest.Parser {
	return newParser(discard, model, onDelta)
}

// parse runs the stream parser over body and returns the result and deltas.
func parse(t *testing.T, body string) (*backends.ChatResult, []backends.Delta, error) {
	t.Helper()
	return adaptertest.Parse(testParser, "asked", strings.NewReader(body))
}

func TestStreamEdgeCases(t *testing.T) {
	th := func(s string) backends.Delta { return backends.Delta{Kind: backends.KindThinking, Text: s} }
	co := func(s string) backends.Delta { return backends.Delta{Kind: backends.KindContent, Text: s} }
	for _, c := range []struct {
		name       string
		body       string
		deltas     []backends.Delta
		content    string
		thinking   string
		toolCalls  string
		usage      backends.Usage
		model      string
		incomplete bool
	}{
		{
			name:   "thinking before content on one line",
			body:   `{"model":"m","message":{"content":"A","thinking":"T"}}` + "\n" + `{"done":true,"prompt_eval_count":3,"eval_count":4}`,
			deltas: []backends.Delta{th("T"), co("A")}, content: "A", thinking: "T", usage: backends.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}, model: "m",
		},
		{
			name: "tool calls of every line kept in order",
			body: `{"message":{"content":"","tool_calls":[{"function":{"name":"a","arguments":{"x":1}}}]}}` + "\n" +
				`{"message":{"tool_calls":null}}` + "\n" +
				`{"message":{"tool_calls":[{"function":{"name":"b","arguments":{}}}]}}` + "\n" + `{"done":true}`,
			toolCalls: `[{"function":{"name":"a","arguments":{"x":1}}},{"function":{"name":"b","arguments":{}}}]`, model: "asked",
		},
		{
			name: "malformed, blank, unknown and non-array tool_calls lines are skipped",
			body: "\r\n  \n{oops\n" + `{"message":{"content":"ok","extra":[1,2]},"new_field":{"a":1}}` + "\r\n" +
				`{"message":{"content":5}}` + "\n" + `{"message":{"tool_calls":{"not":"array"}}}` + "\n" + `{"done":true,"eval_count":1}` + "\n",
			deltas: []backends.Delta{co("ok")}, content: "ok", usage: backends.Usage{PromptTokens: 0, CompletionTokens: 1, TotalTokens: 1}, model: "asked",
		},
		{
			name:   "no done frame: zeros and incomplete",
			body:   `{"model":"m","message":{"content":"cut"}}`,
			deltas: []backends.Delta{co("cut")}, content: "cut", model: "m", incomplete: true,
		},
		{
			name:   "content on the done frame is kept",
			body:   `{"message":{"content":"last"},"done":true,"eval_count":2}`,
			deltas: []backends.Delta{co("last")}, content: "last", usage: backends.Usage{PromptTokens: 0, CompletionTokens: 2, TotalTokens: 2}, model: "asked",
		},
		{name: "empty body", body: "", model: "asked", incomplete: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, deltas, err := parse(t, c.body)
			if err != nil {
				t.Fatal(err)
			}
			m := res.Choices[0].Message
			if !reflect.DeepEqual(deltas, c.deltas) || m.Content != c.content || m.Thinking != c.thinking ||
				string(m.ToolCalls) != c.toolCalls || *res.Usage != c.usage || res.Model != c.model ||
				res.Incomplete != c.incomplete || res.Choices[0].FinishReason != "stop" {
				t.Errorf("got deltas %q, %+v usage %+v incomplete %v", deltas, res, *res.Usage, res.Incomplete)
			}
			if _, err := json.Marshal(res); err != nil {
				t.Errorf("result does not marshal: %v", err)
			}
		})
	}
}

func TestStreamErrorLine(t *testing.T) {
	_, deltas, err := parse(t, `{"message":{"content":"a"}}`+"\n"+`{"error":"llama runner process has terminated"}`+"\n"+`{"message":{"content":"b"}}`)
	var se *wire.ServerError
	if !errors.As(err, &se) || se.Msg != "llama runner process has terminated" {
		t.Fatalf("err = %v", err)
	}
	if len(deltas) != 1 {
		t.Errorf("deltas after the error line were delivered: %q", deltas)
	}
}

func TestStreamAbort(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	p := newParser(slog.New(slog.DiscardHandler), "m", func(backends.Delta) error { n++; return stop })
	err := p.Parse(iotest.OneByteReader(strings.NewReader(`{"message":{"thinking":"t","content":"c"}}` + "\n" + `{"message":{"content":"d"}}`)))
	var ab *wire.Aborted
	if !errors.As(err, &ab) || !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err = %v after %d deltas; want the callback's error after the first", err, n)
	}
}
