package wire

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pin-client/pin-client/backends"
)

// TestStreamRun: lines reach the handler whole whatever the reads, over-long lines are
// counted and skipped, the handler's error ends the read, and warnings stay bounded.
func TestStreamRun(t *testing.T) {
	var logs bytes.Buffer
	s := &Stream{Log: slog.New(slog.NewTextHandler(&logs, nil))}
	var got []string
	long := strings.Repeat("x", 17<<20) // over linescan.DefaultMax
	body := "a\r\n" + long + "\nbé\n\nbad\nbad\nbad\nbad\nstop\nnever"
	stop := errors.New("stop")
	err := s.Run(iotest.HalfReader(strings.NewReader(body)), func(b []byte) error {
		got = append(got, string(b))
		switch string(b) {
		case "bad":
			s.Skip("skipped bad line", nil)
		case "stop":
			return stop
		}
		return nil
	})
	if err != stop {
		t.Fatalf("Run = %v, want the handler's error", err)
	}
	if want := []string{"a", "bé", "", "bad", "bad", "bad", "bad", "stop"}; !reflect.DeepEqual(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	if s.Lines != 9 || s.Malformed != 5 {
		t.Errorf("Lines %d Malformed %d, want 9 and 5", s.Lines, s.Malformed)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != MaxWarnings {
		t.Errorf("%d warnings, want %d:\n%s", n, MaxWarnings, logs.String())
	}
	s.LogEnd(nil, nil, "skipped lines", true, "cut")
	if !strings.Contains(logs.String(), `msg="skipped lines" count=5`) || strings.Contains(logs.String(), "cut") {
		t.Errorf("LogEnd:\n%s", logs.String())
	}
}

// TestStreamEmit: text is collected per kind, deltas reach OnDelta in order, and a failing
// OnDelta comes back as *Aborted wrapping its error.
func TestStreamEmit(t *testing.T) {
	var got []backends.Delta
	stop := errors.New("stop")
	s := &Stream{Log: slog.New(slog.DiscardHandler), OnDelta: func(d backends.Delta) error {
		got = append(got, d)
		if d.Text == "x" {
			return stop
		}
		return nil
	}}
	for _, d := range []backends.Delta{{Kind: backends.KindThinking, Text: "t"}, {Kind: backends.KindContent, Text: "c"}, {Kind: backends.KindContent, Text: "d"}} {
		if err := s.Emit(d.Kind, d.Text); err != nil {
			t.Fatal(err)
		}
	}
	if m := s.Message(); !reflect.DeepEqual(m, backends.Message{Role: "assistant", Content: "cd", Thinking: "t"}) || s.ContentDeltas != 2 || s.ThinkingDeltas != 1 || len(got) != 3 {
		t.Errorf("message %+v, %d/%d deltas, delivered %q", m, s.ContentDeltas, s.ThinkingDeltas, got)
	}
	err := s.Emit(backends.KindContent, "x")
	var ab *Aborted
	if !errors.As(err, &ab) || !errors.Is(err, stop) {
		t.Errorf("Emit with a failing callback = %v", err)
	}
	s.OnDelta = nil
	if err := s.Emit(backends.KindContent, "y"); err != nil || s.Content.String() != "cdxy" {
		t.Errorf("Emit without a callback = %v, content %q", err, s.Content.String())
	}
}
