package core

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
)

// bus publishes immutable Status snapshots to subscribers, coalesced: each subscriber
// has a one-slot channel holding the latest snapshot it has not read.
type bus struct {
	cur  atomic.Pointer[Status]
	mu   sync.Mutex
	subs map[chan Status]struct{} // guarded by mu
}

func (b *bus) load() Status {
	if s := b.cur.Load(); s != nil {
		return *s
	}
	return Status{}
}

func (b *bus) publish(s Status) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cur.Store(&s)
	for ch := range b.subs {
		select { // replace an unread snapshot with the newer one
		case <-ch:
		default:
		}
		ch <- s
	}
}

func (b *bus) subscribe(ctx context.Context) <-chan Status {
	ch := make(chan Status, 1)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = make(map[chan Status]struct{})
	}
	b.subs[ch] = struct{}{}
	if s := b.cur.Load(); s != nil {
		ch <- *s
	}
	b.mu.Unlock()
	out := make(chan Status)
	go func() {
		defer close(out)
		defer func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
		}()
		for {
			select {
			case s := <-ch:
				select {
				case out <- s:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// logRing keeps the last n log records (Info and above) for Status.Log. It is a
// slog.Handler that forwards everything to next.
type logRing struct {
	next     slog.Handler
	attrs    string // preformatted attributes of With
	tag      string // a With("tag", …)
	shared   *ringState
	onRecord func()
}

type ringState struct {
	mu    sync.Mutex
	lines []LogLine // guarded by mu; ring of cap n
	start int       // guarded by mu
	snap  []LogLine // guarded by mu: the last snapshot, nil once a line was added
	n     int
}

func newLogRing(next slog.Handler, n int, onRecord func()) *logRing {
	return &logRing{next: next, shared: &ringState{n: n}, onRecord: onRecord}
}

func (h *logRing) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h *logRing) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r)
	}
	if r.Level < slog.LevelInfo {
		return err
	}
	var sb strings.Builder
	tag := h.tag
	sb.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "tag" {
			tag = a.Value.String()
			return true
		}
		writeAttr(&sb, "", a)
		return true
	})
	msg := r.Message + sb.String()
	if tag != "" { // the operator-known tags of the original daemon, as in the log
		msg = "[" + strings.ToUpper(tag) + "] " + msg
	}
	h.shared.add(LogLine{Time: r.Time, Level: r.Level, Message: msg})
	if h.onRecord != nil {
		h.onRecord()
	}
	return err
}

func writeAttr(sb *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			writeAttr(sb, prefix+a.Key+".", g)
		}
		return
	}
	fmt.Fprintf(sb, " %s%s=%v", prefix, a.Key, v.Any())
}

func (h *logRing) WithAttrs(as []slog.Attr) slog.Handler {
	var sb strings.Builder
	sb.WriteString(h.attrs)
	tag := h.tag
	for _, a := range as {
		if a.Key == "tag" {
			tag = a.Value.String()
			continue
		}
		writeAttr(&sb, "", a)
	}
	return &logRing{next: h.next.WithAttrs(as), attrs: sb.String(), tag: tag, shared: h.shared, onRecord: h.onRecord}
}

// WithGroup keeps the ring flat: grouped attributes are shown with their plain keys.
func (h *logRing) WithGroup(name string) slog.Handler {
	return &logRing{next: h.next.WithGroup(name), attrs: h.attrs, tag: h.tag, shared: h.shared, onRecord: h.onRecord}
}

func (s *ringState) add(l LogLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap = nil
	if len(s.lines) < s.n {
		s.lines = append(s.lines, l)
		return
	}
	s.lines[s.start] = l
	s.start = (s.start + 1) % s.n
}

// snapshot returns the lines oldest first. The slice is shared by every snapshot taken
// until the next line arrives (Status is immutable), so publishing a status that did not
// log anything copies nothing.
func (s *ringState) snapshot() []LogLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap == nil {
		s.snap = make([]LogLine, 0, len(s.lines))
		s.snap = append(s.snap, s.lines[s.start:]...)
		s.snap = append(s.snap, s.lines[:s.start]...)
	}
	return s.snap
}

// StatusBus publishes Status snapshots to subscribers with the same coalescing as the
// engine's own Subscribe. Processes that wrap an engine (internal/host, which swaps
// engines on reload) use it to keep one subscription alive across engines. The zero
// value is ready to use.
type StatusBus struct{ b bus }

// Publish makes s the current snapshot and hands it to every subscriber.
func (sb *StatusBus) Publish(s Status) { sb.b.publish(s) }

// Load returns the current snapshot (the zero Status before the first Publish).
func (sb *StatusBus) Load() Status { return sb.b.load() }

// Subscribe delivers the current snapshot, then each newer one, coalesced; the channel
// is closed when ctx ends.
func (sb *StatusBus) Subscribe(ctx context.Context) <-chan Status { return sb.b.subscribe(ctx) }
