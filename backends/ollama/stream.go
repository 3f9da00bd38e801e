package ollama

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/internal/linescan"
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

// serverError is an {"error":"…"} line: Ollama failed after it had sent its 200.
type serverError struct{ msg string }

func (e *serverError) Error() string { return "Ollama reported an error mid-stream: " + e.msg }

// maxWarnings bounds the per-line warnings one stream logs; the rest are counted.
const maxWarnings = 3

// parser turns an /api/chat NDJSON stream into deltas and a result.
type parser struct {
	log     *slog.Logger
	onDelta func(backends.Delta) error

	model     string
	content   strings.Builder
	thinking  strings.Builder
	toolCalls []json.RawMessage
	done      bool
	prompt    int
	eval      int

	start                         time.Time
	lines, malformed              int
	contentDeltas, thinkingDeltas int
	firstDelta                    bool
}

func newParser(log *slog.Logger, model string, onDelta func(backends.Delta) error) *parser {
	return &parser{log: log, onDelta: onDelta, model: model, start: time.Now()}
}

// run reads r to its end. It returns nil at a clean end of input, *wire.Aborted when
// onDelta failed, *serverError for an error line, or the read error.
func (p *parser) run(r io.Reader) error {
	sc := linescan.New(r, 0)
	for {
		line, err := sc.Next()
		if err == io.EOF {
			return nil
		}
		if err == linescan.ErrTooLong {
			p.lines++
			p.skip("stream line longer than the limit", nil)
			continue
		}
		if err != nil {
			return err
		}
		p.lines++
		if err := p.line(line); err != nil {
			return err
		}
	}
}

// line handles one NDJSON line: thinking is emitted before content (L2).
func (p *parser) line(line []byte) error {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil
	}
	var f frame
	if err := json.Unmarshal(line, &f); err != nil {
		p.skip("skipped malformed stream line", err)
		return nil
	}
	if msg := wire.ErrorText(f.Error); msg != "" {
		return &serverError{msg: msg}
	}
	if f.Model != "" {
		p.model = f.Model
	}
	if tc := bytes.TrimSpace(f.Message.ToolCalls); wire.Present(tc) {
		// Ollama sends each call whole, and parallel calls may come in separate lines, so
		// the calls of every line are kept in order.
		var calls []json.RawMessage
		if err := json.Unmarshal(tc, &calls); err != nil {
			p.skip("skipped tool_calls that are not an array", err)
		} else {
			p.toolCalls = append(p.toolCalls, calls...)
		}
	}
	if f.Message.Thinking != "" {
		if err := p.emit(backends.KindThinking, f.Message.Thinking); err != nil {
			return err
		}
	}
	if f.Message.Content != "" {
		if err := p.emit(backends.KindContent, f.Message.Content); err != nil {
			return err
		}
	}
	if f.Done {
		p.done = true
		p.prompt, p.eval = f.PromptEvalCount, f.EvalCount
	}
	return nil
}

func (p *parser) emit(kind backends.DeltaKind, text string) error {
	if kind == backends.KindThinking {
		p.thinking.WriteString(text)
		p.thinkingDeltas++
	} else {
		p.content.WriteString(text)
		p.contentDeltas++
	}
	if !p.firstDelta {
		p.firstDelta = true
		p.log.Debug("first delta", "kind", string(kind), "elapsed", time.Since(p.start))
	}
	if p.onDelta == nil {
		return nil
	}
	if err := p.onDelta(backends.Delta{Kind: kind, Text: text}); err != nil {
		return &wire.Aborted{Err: err}
	}
	return nil
}

// skip counts a line that could not be used and warns about the first few. The line's
// text is never logged: it may hold answer content.
func (p *parser) skip(msg string, err error) {
	p.malformed++
	if p.malformed <= maxWarnings {
		p.log.Warn(msg, "line", p.lines, "err", err)
	}
}

// result builds the answer from everything seen.
func (p *parser) result() *backends.ChatResult {
	res := &backends.ChatResult{
		Choices: []backends.Choice{{
			Message: backends.Message{
				Role:     "assistant",
				Content:  p.content.String(),
				Thinking: p.thinking.String(),
			},
			FinishReason: "stop",
		}},
		Usage:      usageOf(p.prompt, p.eval),
		Model:      p.model,
		Incomplete: !p.done,
	}
	if len(p.toolCalls) > 0 {
		res.Choices[0].Message.ToolCalls = joinArray(p.toolCalls)
	}
	return res
}

// logEnd writes the end-of-stream diagnostics (L20); a stream without a done frame is a
// warning, because it must not look like a clean finish.
func (p *parser) logEnd(m *wire.Meter, err error) {
	attrs := []any{"model", p.model, "done", p.done, "lines", p.lines, "bytes", m.N,
		"first_bytes_after", m.First, "content_deltas", p.contentDeltas, "thinking_deltas", p.thinkingDeltas,
		"tool_calls", len(p.toolCalls), "malformed_lines", p.malformed, "elapsed", time.Since(p.start)}
	if p.malformed > maxWarnings {
		p.log.Warn("skipped malformed stream lines", "count", p.malformed)
	}
	if err != nil {
		p.log.Debug("stream failed", append(attrs, "err", err)...)
		return
	}
	p.log.Debug("stream ended", attrs...)
	if !p.done {
		p.log.Warn("stream ended without a done frame; the answer may be truncated and usage is zero", attrs...)
	}
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
