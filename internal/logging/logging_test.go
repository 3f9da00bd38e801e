package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/pin-client/pin-client/core/protocol"
)

func TestHandlerFormat(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(New(&buf, slog.LevelInfo, true))
	log.With("transport", "sse").Info("job done", "tag", "inference", "n", 3, "err", errors.New("x y"), "secret", protocol.NewSecret("pin_sk_abc"))
	log.Debug("hidden")
	got := buf.String()
	want := "INFO  [INFERENCE] job done transport=sse n=3 err=\"x y\" secret=[redacted]\n"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if strings.Contains(got, "pin_sk_abc") {
		t.Fatal("secret leaked")
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"trace": LevelTrace, "DEBUG": slog.LevelDebug, "info": slog.LevelInfo,
		"warn": slog.LevelWarn, "error": slog.LevelError, "pin_clientd=debug": slog.LevelDebug, "": slog.LevelInfo} {
		got, err := ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseLevel("loud"); err == nil || !strings.Contains(err.Error(), "use trace") {
		t.Errorf("ParseLevel(loud) error = %v", err)
	}
}
