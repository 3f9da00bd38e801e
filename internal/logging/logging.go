// Package logging is pin-clientd's log format: one line per record, the operator-known
// tags of the original daemon in front ([NODE], [WALLET], [INTERVIEW], [INFERENCE]), data
// as key=value after the message. Under systemd (JOURNAL_STREAM set) the timestamp is
// left out because journald adds its own.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LevelTrace is below debug, for -l trace.
const LevelTrace = slog.LevelDebug - 4

// ParseLevel reads trace|debug|info|warn|error. A RUST_LOG-style value such as
// "pin_clientd=debug,info" is accepted too: the last bare or module level wins.
func ParseLevel(s string) (slog.Level, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if i := strings.LastIndexAny(s, ",="); i >= 0 {
		s = s[i+1:]
	}
	switch s {
	case "trace":
		return LevelTrace, nil
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q is not known; use trace, debug, info, warn or error", s)
}

// Handler writes the one-line format. It is safe for concurrent use.
type Handler struct {
	w      io.Writer
	mu     *sync.Mutex
	level  slog.Leveler
	noTime bool
	prefix string // preformatted With attributes
	tag    string // from a With("tag", …)
	group  string
}

// New returns a Handler writing to w at level. noTime drops timestamps (journald).
func New(w io.Writer, level slog.Leveler, noTime bool) *Handler {
	return &Handler{w: w, mu: new(sync.Mutex), level: level, noTime: noTime}
}

func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	if !h.noTime {
		b.WriteString(r.Time.Format(time.DateTime))
		b.WriteByte(' ')
	}
	b.WriteString(levelName(r.Level))
	tag := h.tag
	var rest strings.Builder
	rest.WriteString(h.prefix)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "tag" && h.group == "" {
			tag = a.Value.String()
			return true
		}
		appendAttr(&rest, h.group, a)
		return true
	})
	if tag != "" {
		b.WriteString(" [")
		b.WriteString(strings.ToUpper(tag))
		b.WriteByte(']')
	}
	b.WriteByte(' ')
	b.WriteString(r.Message)
	b.WriteString(rest.String())
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "TRACE"
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO "
	case l < slog.LevelError:
		return "WARN "
	}
	return "ERROR"
}

func appendAttr(b *strings.Builder, group string, a slog.Attr) {
	v := a.Value.Resolve()
	key := a.Key
	if group != "" {
		key = group + "." + key
	}
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			appendAttr(b, key, g)
		}
		return
	}
	if key == "" {
		return
	}
	s := v.String()
	if v.Kind() == slog.KindAny {
		if err, ok := v.Any().(error); ok {
			s = err.Error()
		}
	}
	b.WriteByte(' ')
	b.WriteString(key)
	b.WriteByte('=')
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		s = strconv.Quote(s)
	}
	b.WriteString(s)
}

func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range as {
		if a.Key == "tag" && h.group == "" {
			c.tag = a.Value.String()
			continue
		}
		appendAttr(&b, h.group, a)
	}
	c.prefix = b.String()
	return &c
}

func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}
