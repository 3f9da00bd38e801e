package ollama

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/internal/wire"
)

// frame is one NDJSON line of /api/chat, and also the non-streaming answer. Unknown
// fields are ignored.
type frame struct {
	Model   string `json:"model"`
	Message struct {
		Role      string          `json:"role"`
		Content   string          `json:"content"`
		Thinking  string          `json:"thinking"`
		ToolCalls json.RawMessage `json:"tool_calls"`
	} `json:"message"`
	Done            bool            `json:"done"`
	PromptEvalCount int             `json:"prompt_eval_count"`
	EvalCount       int             `json:"eval_count"`
	Error           json.RawMessage `json:"error"`
}

// parser turns an /api/chat NDJSON stream into deltas and a result.
type parser struct {
	wire.Stream

	model     string
	toolCalls []json.RawMessage
	done      bool
	prompt    int
	eval      int
}

func newParser(log *slog.Logger, model string, onDelta func(backends.Delta) error) *parser {
	return &parser{Stream: wire.Stream{Log: log, OnDelta: onDelta, Start: time.Now()}, model: model}
}

// Parse reads r to its end. It returns nil at a clean end of input, *wire.Aborted when
// onDelta failed, *wire.ServerError for an error line, or the read error.
func (p *parser) Parse(r io.Reader) error { return p.Run(r, p.line) }

// line handles one NDJSON line: thinking is emitted before content (L2).
func (p *parser) line(line []byte) error {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil
	}
	var f frame
	if err := json.Unmarshal(line, &f); err != nil {
		p.Skip("skipped malformed stream line", err)
		return nil
	}
	if msg := wire.ErrorText(f.Error); msg != "" {
		return &wire.ServerError{Who: "Ollama", Msg: msg}
	}
	if f.Model != "" {
		p.model = f.Model
	}
	if tc := bytes.TrimSpace(f.Message.ToolCalls); wire.Present(tc) {
		// Ollama sends each call whole, and parallel calls may come in separate lines, so
		// the calls of every line are kept in order.
		var calls []json.RawMessage
		if err := json.Unmarshal(tc, &calls); err != nil {
			p.Skip("skipped tool_calls that are not an array", err)
		} else {
			p.toolCalls = append(p.toolCalls, calls...)
		}
	}
	if f.Message.Thinking != "" {
		if err := p.Emit(backends.KindThinking, f.Message.Thinking); err != nil {
			return err
		}
	}
	if f.Message.Content != "" {
		if err := p.Emit(backends.KindContent, f.Message.Content); err != nil {
			return err
		}
	}
	if f.Done {
		p.done = true
		p.prompt, p.eval = f.PromptEvalCount, f.EvalCount
	}
	return nil
}

// Result builds the answer from everything seen.
func (p *parser) Result() *backends.ChatResult {
	res := wire.Answer(p.Message(), "stop", usageOf(p.prompt, p.eval), p.model)
	res.Incomplete = !p.done
	if len(p.toolCalls) > 0 {
		res.Choices[0].Message.ToolCalls = joinArray(p.toolCalls)
	}
	return res
}

// End writes the end-of-stream diagnostics (L20); a stream without a done frame is a
// warning, because it must not look like a clean finish.
func (p *parser) End(m *wire.Meter, err error) {
	attrs := []any{"model", p.model, "done", p.done, "lines", p.Lines, "bytes", m.N,
		"first_bytes_after", m.First, "content_deltas", p.ContentDeltas, "thinking_deltas", p.ThinkingDeltas,
		"tool_calls", len(p.toolCalls), "malformed_lines", p.Malformed, "elapsed", time.Since(p.Start)}
	p.LogEnd(err, attrs, "skipped malformed stream lines", p.done,
		"stream ended without a done frame; the answer may be truncated and usage is zero")
}

// joinArray returns the JSON array of the given (valid) elements.
func joinArray(elems []json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, e := range elems {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e)
	}
	b.WriteByte(']')
	return b.Bytes()
}
