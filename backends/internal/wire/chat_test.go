package wire

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pin-client/pin-client/backends"
)

// fakeParser reads its body whole and then fails with err.
type fakeParser struct {
	err   error
	ended bool
	bytes int64
}

func (p *fakeParser) Parse(r io.Reader) error {
	_, _ = io.Copy(io.Discard, r)
	return p.err
}

func (p *fakeParser) End(m *Meter, err error) { p.ended, p.bytes = err == p.err, m.N }

func (p *fakeParser) Result() *backends.ChatResult {
	return Answer(backends.Message{Role: "assistant", Content: "ok"}, "stop", nil, "m")
}

// TestReadStream: each way a stream fails maps to the error ChatStream promises, the
// request is cancelled at once, and a clean end after the caller's cancel is no answer.
func TestReadStream(t *testing.T) {
	stop := errors.New("stop")
	lost := errors.New("connection reset")
	for _, c := range []struct {
		name      string
		perr      error
		cancelCtx bool
		want      string
		is        error
	}{
		{name: "clean", want: ""},
		{name: "callback", perr: &Aborted{Err: stop}, want: "op: aborted: stop", is: stop},
		{name: "server", perr: &ServerError{Who: "Ollama", Msg: "boom"}, want: "op: Ollama reported an error mid-stream: boom"},
		{name: "lost", perr: lost, want: "op: connection lost mid-answer: connection reset", is: ErrLost},
		{name: "read after cancel", perr: lost, cancelCtx: true, want: "op: context canceled", is: context.Canceled},
		{name: "clean after cancel", cancelCtx: true, want: "op: context canceled", is: context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancelCtx := context.WithCancel(t.Context())
			defer cancelCtx()
			if c.cancelCtx {
				cancelCtx()
			}
			cancelled := false
			p := &fakeParser{err: c.perr}
			res, err := ReadStream(ctx, "op", func() { cancelled = true }, strings.NewReader("abc"), time.Now(), p)
			if !p.ended || p.bytes != 3 {
				t.Errorf("End not called with Parse's error and the metered body (%d bytes)", p.bytes)
			}
			if c.want == "" {
				if err != nil || res == nil || res.Choices[0].Message.Content != "ok" || cancelled {
					t.Fatalf("ReadStream = %+v, %v (cancelled %v)", res, err, cancelled)
				}
				return
			}
			if err == nil || err.Error() != c.want || res != nil {
				t.Fatalf("ReadStream = %+v, %v; want error %q", res, err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, c.is)
			}
			if cancelled != (c.perr != nil) {
				t.Errorf("request cancelled = %v, want %v", cancelled, c.perr != nil)
			}
		})
	}
}

func TestMessages(t *testing.T) {
	if m, err := Messages("op", &backends.ChatRequest{Messages: []byte(" [1]\n")}); err != nil || string(m) != "[1]" {
		t.Errorf("Messages = %s, %v", m, err)
	}
	for _, req := range []*backends.ChatRequest{nil, {}, {Messages: []byte(`{"role":"user"}`)}} {
		if _, err := Messages("op", req); err == nil || !strings.HasPrefix(err.Error(), "op: ") {
			t.Errorf("Messages(%+v) = %v, want an error naming op", req, err)
		}
	}
}

func TestReadAllTooLargeIsABadAnswerNotALostLink(t *testing.T) {
	_, err := ReadAll(context.Background(), "chat", io.LimitReader(zeroReader{}, MaxBody+10))
	if !errors.Is(err, backends.ErrBadResponse) || errors.Is(err, ErrLost) {
		t.Fatalf("err = %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }
