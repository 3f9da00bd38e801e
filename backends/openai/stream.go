package openai

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/internal/wire"
)

// chunk is one SSE data payload of a streamed chat completion. Unknown fields are
// ignored; JSON null leaves a string field empty.
type chunk struct {
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Content          string          `json:"content"`
			ReasoningContent string          `json:"reasoning_content"`
			Reasoning        json.RawMessage `json:"reasoning"` // a string on the servers we know; anything else is ignored
			ToolCalls        []toolFragment  `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *backends.Usage `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// toolFragment is one piece of a streamed tool call (§6.4).
type toolFragment struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"` // a string shard; a whole JSON value is accepted too
	} `json:"function"`
}

// toolCall is an assembled call; field order is the wire order.
type toolCall struct {
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type"`
	Function toolFunction `json:"function"`
}

type toolFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type toolEntry struct {
	id, typ, name string
	args          strings.Builder
}

var (
	dataPrefix  = []byte("data:")
	errorPrefix = []byte("error:") // llama.cpp's "error: {…}" SSE line
	doneMarker  = []byte("[DONE]")
)

// parser turns an SSE chat-completion stream into deltas and a result.
type parser struct {
	wire.Stream

	model    string
	tools    map[int]*toolEntry
	lastTool int
	maxTool  int // the highest key of tools, -1 when empty (kept, not searched: O(1) per fragment)
	finish   string
	usage    *backends.Usage
	sawDone  bool
	events   int
}

func newParser(log *slog.Logger, model string, onDelta func(backends.Delta) error) *parser {
	return &parser{Stream: wire.Stream{Log: log, OnDelta: onDelta, Start: time.Now()}, model: model, lastTool: -1, maxTool: -1}
}

// Parse reads r to its end ([DONE] does not end the read). It returns nil at a clean end
// of input, *wire.Aborted when onDelta failed, *wire.ServerError for an error payload, or
// the read error.
func (p *parser) Parse(r io.Reader) error { return p.Run(r, p.line) }

// line handles one SSE line. Only data: lines carry chunks; blank lines, comments
// (":…") and other fields (event:, id:, retry:) are skipped.
func (p *parser) line(line []byte) error {
	line = bytes.TrimSpace(line)
	var payload []byte
	switch {
	case bytes.HasPrefix(line, dataPrefix):
		payload = bytes.TrimSpace(line[len(dataPrefix):])
	case bytes.HasPrefix(line, errorPrefix):
		msg := wire.ErrorMessage(bytes.TrimSpace(line[len(errorPrefix):]))
		if msg == "" {
			msg = string(bytes.TrimSpace(line[len(errorPrefix):]))
		}
		return &wire.ServerError{Who: "server", Msg: wire.Excerpt(msg, wire.ExcerptLimit)}
	default:
		return nil
	}
	if len(payload) == 0 {
		return nil
	}
	if bytes.Equal(payload, doneMarker) {
		p.sawDone = true
		return nil
	}
	p.events++
	var c chunk
	if err := json.Unmarshal(payload, &c); err != nil {
		p.Skip("skipped malformed stream event", err)
		return nil
	}
	if msg := wire.ErrorText(c.Error); msg != "" && len(c.Choices) == 0 {
		return &wire.ServerError{Who: "server", Msg: msg}
	}
	if c.Model != "" {
		p.model = c.Model
	}
	if c.Usage != nil {
		p.usage = c.Usage
	}
	if len(c.Choices) == 0 { // e.g. the usage-only final frame
		return nil
	}
	ch := &c.Choices[0]
	if ch.FinishReason != nil && *ch.FinishReason != "" {
		p.finish = *ch.FinishReason
	}
	d := &ch.Delta
	thinking := d.ReasoningContent
	if thinking == "" {
		thinking = jsonString(d.Reasoning)
	}
	if thinking != "" {
		if err := p.Emit(backends.KindThinking, thinking); err != nil {
			return err
		}
	}
	for i := range d.ToolCalls {
		p.merge(&d.ToolCalls[i])
	}
	if d.Content != "" {
		if err := p.Emit(backends.KindContent, d.Content); err != nil {
			return err
		}
	}
	return nil
}

// merge folds one tool-call fragment into its entry (§6.4). A fragment without index
// belongs to the last entry (index 0 at first), unless it brings an id other than that
// entry's: then it starts the next call (servers that number nothing).
func (p *parser) merge(f *toolFragment) {
	var idx int
	switch {
	case f.Index != nil:
		idx = *f.Index
	case p.lastTool < 0:
		idx = 0
	default:
		idx = p.lastTool
		if e := p.tools[idx]; e != nil && f.ID != "" && e.id != "" && f.ID != e.id {
			idx = p.maxTool + 1
		}
	}
	if p.tools == nil {
		p.tools = make(map[int]*toolEntry)
	}
	e := p.tools[idx]
	if e == nil {
		e = &toolEntry{typ: "function"}
		p.tools[idx] = e
		p.maxTool = max(p.maxTool, idx)
	}
	p.lastTool = idx
	if f.ID != "" {
		e.id = f.ID
	}
	if f.Type != "" {
		e.typ = f.Type
	}
	if f.Function.Name != "" {
		e.name = f.Function.Name
	}
	if args := bytes.TrimSpace(f.Function.Arguments); wire.Present(args) {
		if args[0] == '"' {
			var s string
			if json.Unmarshal(args, &s) == nil {
				e.args.WriteString(s)
			}
		} else {
			e.args.Write(args) // a whole JSON value instead of a shard
		}
	}
}

// complete reports whether the server said the answer ended (a finish_reason or
// [DONE]); a stream with neither was cut short.
func (p *parser) complete() bool { return p.finish != "" || p.sawDone }

// Result builds the answer from everything seen.
func (p *parser) Result() *backends.ChatResult {
	res := wire.Answer(p.Message(), cmp.Or(p.finish, "stop"), fixUsage(p.usage), p.model)
	res.Incomplete = !p.complete()
	if len(p.tools) > 0 {
		keys := make([]int, 0, len(p.tools))
		for k := range p.tools {
			keys = append(keys, k)
		}
		sort.Ints(keys)
		calls := make([]toolCall, 0, len(keys))
		for _, k := range keys {
			e := p.tools[k]
			calls = append(calls, toolCall{ID: e.id, Type: e.typ, Function: toolFunction{Name: e.name, Arguments: e.args.String()}})
		}
		b, err := wire.Encode(calls)
		if err == nil {
			res.Choices[0].Message.ToolCalls = b
		}
	}
	return res
}

// End writes the end-of-stream diagnostics (L20).
func (p *parser) End(m *wire.Meter, err error) {
	attrs := []any{"model", p.model, "finish_reason", p.finish, "done_marker", p.sawDone, "usage", p.usage != nil,
		"lines", p.Lines, "events", p.events, "bytes", m.N, "first_bytes_after", m.First,
		"content_deltas", p.ContentDeltas, "thinking_deltas", p.ThinkingDeltas, "tool_calls", len(p.tools),
		"malformed_events", p.Malformed, "elapsed", time.Since(p.Start)}
	p.LogEnd(err, attrs, "skipped malformed stream events", p.complete(),
		"stream ended without finish_reason or [DONE]; the answer may be truncated")
}
