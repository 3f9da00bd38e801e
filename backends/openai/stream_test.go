package openai

import (
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"

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

func sse(payloads ...string) string {
	var b strings.Builder
	for _, p := range payloads {
		b.WriteString("data: " + p + "\n\n")
	}
	return b.String()
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
		finish     string
		usage      string
		incomplete bool
	}{
		{
			name: "reasoning_content and reasoning: one thinking delta, before content",
			body: sse(`{"choices":[{"delta":{"reasoning_content":"R","reasoning":"R","content":"C"}}]}`,
				`{"choices":[{"delta":{"reasoning":"S"}}]}`, `{"choices":[{"delta":{"reasoning":{"summary":"x"},"content":"D"},"finish_reason":"stop"}]}`, `[DONE]`),
			deltas: []backends.Delta{th("R"), co("C"), th("S"), co("D")}, content: "CD", thinking: "RS", finish: "stop", usage: "null",
		},
		{
			name: "fragments by index, out of order, shards concatenated, content null",
			body: sse(`{"choices":[{"delta":{"content":null,"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"g","arguments":""}}]}}]}`,
				`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"ro"}}]}}]}`,
				`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"le\": \"hiri"}},{"index":1,"function":{"arguments":"{}"}}]}}]}`,
				`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"","arguments":"ng\"}"}}]}}]}`,
				`{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}`),
			toolCalls: `[{"id":"a","type":"function","function":{"name":"f","arguments":"{\"role\": \"hiring\"}"}},{"id":"b","type":"function","function":{"name":"g","arguments":"{}"}}]`,
			finish:    "tool_calls", usage: "null",
		},
		{
			name: "no index: a new id starts the next call; object arguments kept as text",
			body: sse(`{"choices":[{"delta":{"tool_calls":[{"id":"x","function":{"name":"f","arguments":{"a":1}}}]}}]}`,
				`{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":""}}]}}]}`,
				`{"choices":[{"delta":{"tool_calls":[{"id":"y","function":{"name":"g","arguments":"{\"b\""}}]}}]}`,
				`{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":":2}"}}]}}]}`, `[DONE]`),
			toolCalls: `[{"id":"x","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},{"id":"y","type":"function","function":{"name":"g","arguments":"{\"b\":2}"}}]`,
			finish:    "stop", usage: "null",
		},
		{
			name: "usage: last non-null wins, usage-only frame, total filled",
			body: sse(`{"choices":[{"delta":{"content":"a"}}],"usage":null}`, `{"choices":[{"delta":{}}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`,
				`{"choices":[{"delta":{},"finish_reason":"length"}],"usage":null}`, `{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6}}`, `[DONE]`),
			deltas: []backends.Delta{co("a")}, content: "a", finish: "length", usage: `{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}`,
		},
		{
			name: "comments, other fields, CRLF, no space after data:, garbage skipped; [DONE] does not end the read",
			body: ": hello\r\nevent: message\r\nid: 7\r\nretry: 100\r\ndata:{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\r\n\r\n" +
				"data: {not json\n\ndata: [DONE]\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"y\"}}]}\n\n{\"choices\":[{\"delta\":{\"content\":\"bare\"}}]}\n",
			deltas: []backends.Delta{co("x"), co("y")}, content: "xy", finish: "stop", usage: "null",
		},
		{
			name:   "neither finish_reason nor [DONE]: incomplete",
			body:   sse(`{"model":"real","choices":[{"delta":{"content":"cut"}}]}`),
			deltas: []backends.Delta{co("cut")}, content: "cut", finish: "stop", usage: "null", incomplete: true,
		},
		{
			name:   "only later choices ignored",
			body:   sse(`{"choices":[{"delta":{"content":"0"}},{"delta":{"content":"1"}}]}`, `[DONE]`),
			deltas: []backends.Delta{co("0")}, content: "0", finish: "stop", usage: "null",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, deltas, err := parse(t, c.body)
			if err != nil {
				t.Fatal(err)
			}
			m := res.Choices[0].Message
			u, _ := json.Marshal(res.Usage)
			if !reflect.DeepEqual(deltas, c.deltas) || m.Content != c.content || m.Thinking != c.thinking ||
				string(m.ToolCalls) != c.toolCalls || res.Choices[0].FinishReason != c.finish || string(u) != c.usage ||
				res.Incomplete != c.incomplete {
				t.Errorf("got deltas %q content %q thinking %q tools %s finish %q usage %s incomplete %v",
					deltas, m.Content, m.Thinking, m.ToolCalls, res.Choices[0].FinishReason, u, res.Incomplete)
			}
		})
	}
}

func TestStreamErrors(t *testing.T) {
	for body, want := range map[string]string{
		sse(`{"choices":[{"delta":{"content":"a"}}]}`, `{"error":{"message":"CUDA OOM","code":500}}`):                 "CUDA OOM",
		sse(`{"choices":[{"delta":{"content":"a"}}]}`) + "error: {\"code\":500,\"message\":\"context overflow\"}\n\n": "context overflow",
		sse(`{"error":"plain string"}`): "plain string",
	} {
		_, _, err := parse(t, body)
		var se *wire.ServerError
		if !errors.As(err, &se) || se.Msg != want {
			t.Errorf("err = %v, want server error %q", err, want)
		}
	}
}
