package wire

import (
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/internal/linescan"
)

// MaxWarnings bounds the per-line warnings one stream logs; the rest are counted and
// reported once at the end (Stream.LogEnd).
const MaxWarnings = 3

// ServerError is an error the backend reported inside a 200 stream (an error line or
// payload): the backend failed after it had answered. Who names the reporter in the
// message ("Ollama", "server").
type ServerError struct {
	Who string
	Msg string // one line, bounded
}

func (e *ServerError) Error() string { return e.Who + " reported an error mid-stream: " + e.Msg }

// Stream is the bookkeeping every stream parser shares, whatever the wire format: it
// splits the body into lines, collects the answer text, hands each delta to the caller
// and counts what it saw for the end-of-stream diagnostics (L20). An adapter's parser
// embeds it and supplies what one line means. It is not safe for concurrent use.
type Stream struct {
	Log     *slog.Logger               // not nil
	OnDelta func(backends.Delta) error // nil: deltas are only collected
	Start   time.Time                  // when the request was sent; elapsed times count from it

	Content, Thinking             strings.Builder // the answer so far
	Lines, Malformed              int
	ContentDeltas, ThinkingDeltas int

	firstDelta bool
}

// Run reads r to its end and hands every line (without its '\n' and one trailing '\r')
// to line. A line longer than the scanner's limit is counted and skipped. Run returns nil
// at a clean end of input, the first error line returns, or the read error.
func (s *Stream) Run(r io.Reader, line func([]byte) error) error {
	sc := linescan.New(r, 0)
	for {
		b, err := sc.Next()
		if err == io.EOF {
			return nil
		}
		if err == linescan.ErrTooLong {
			s.Lines++
			s.Skip("stream line longer than the limit", nil)
			continue
		}
		if err != nil {
			return err
		}
		s.Lines++
		if err := line(b); err != nil {
			return err
		}
	}
}

// Emit collects one non-empty delta, logs the first delta of the stream, and hands it to
// OnDelta. It returns *Aborted when OnDelta fails.
func (s *Stream) Emit(kind backends.DeltaKind, text string) error {
	if kind == backends.KindThinking {
		s.Thinking.WriteString(text)
		s.ThinkingDeltas++
	} else {
		s.Content.WriteString(text)
		s.ContentDeltas++
	}
	if !s.firstDelta {
		s.firstDelta = true
		s.Log.Debug("first delta", "kind", string(kind), "elapsed", time.Since(s.Start))
	}
	if s.OnDelta == nil {
		return nil
	}
	if err := s.OnDelta(backends.Delta{Kind: kind, Text: text}); err != nil {
		return &Aborted{Err: err}
	}
	return nil
}

// Skip counts a line that could not be used and warns about the first MaxWarnings. The
// line's text is never logged: it may hold answer content.
func (s *Stream) Skip(msg string, err error) {
	s.Malformed++
	if s.Malformed <= MaxWarnings {
		s.Log.Warn(msg, "line", s.Lines, "err", err)
	}
}

// Message is the assistant message collected so far (no tool calls).
func (s *Stream) Message() backends.Message {
	return backends.Message{Role: "assistant", Content: s.Content.String(), Thinking: s.Thinking.String()}
}

// LogEnd writes the end-of-stream diagnostics (L20) with the parser's attrs: skipped
// (with the count) when more lines were skipped than were warned about, then "stream
// failed" with err, or "stream ended" — and the truncated warning when the backend never
// said the answer was complete, because a cut stream must not look like a clean finish.
func (s *Stream) LogEnd(err error, attrs []any, skipped string, complete bool, truncated string) {
	if s.Malformed > MaxWarnings {
		s.Log.Warn(skipped, "count", s.Malformed)
	}
	if err != nil {
		s.Log.Debug("stream failed", append(attrs, "err", err)...)
		return
	}
	s.Log.Debug("stream ended", attrs...)
	if !complete {
		s.Log.Warn(truncated, attrs...)
	}
}
