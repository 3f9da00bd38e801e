package main

import (
	"strings"
	"testing"
	"time"
)

func TestPauseEnd(t *testing.T) {
	now := time.Date(2026, 12, 7, 22, 0, 0, 0, time.Local)
	for _, c := range []struct {
		forArg, untilArg string
		want             time.Time
		err              string
	}{
		{"", "", time.Time{}, ""},
		{"1h", "", now.Add(time.Hour), ""},
		{"", "tomorrow", time.Date(2026, 12, 8, 8, 0, 0, 0, time.Local), ""},
		{"", "Tomorrow", time.Date(2026, 12, 8, 8, 0, 0, 0, time.Local), ""},
		{"", "23:30", time.Date(2026, 12, 7, 23, 30, 0, 0, time.Local), ""},
		{"", "08:00", time.Date(2026, 12, 8, 8, 0, 0, 0, time.Local), ""},
		{"", "2026-12-09T10:00:00Z", time.Date(2026, 12, 9, 10, 0, 0, 0, time.UTC), ""},
		{"1h", "08:00", time.Time{}, "not both"},
		{"an hour", "", time.Time{}, `--for "an hour": not a positive duration`},
		{"", "8am", time.Time{}, `--until "8am": use a time of day such as 08:00`},
	} {
		got, err := pauseEnd(c.forArg, c.untilArg, now)
		if c.err == "" && (err != nil || !got.Equal(c.want)) {
			t.Errorf("pauseEnd(%q, %q) = %v, %v; want %v", c.forArg, c.untilArg, got, err, c.want)
		}
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("pauseEnd(%q, %q) err = %v; want %q", c.forArg, c.untilArg, err, c.err)
		}
	}
}

// pause and resume on a real daemon: status says why and until when, the gateway sees
// the operator leave, and it comes back after resume.
func TestPauseResumeRealDaemon(t *testing.T) {
	d, gw, ctx := startServingDaemon(t)
	out, err := d.cli(ctx, "pause", "--for", "1h", "--control-socket", d.sock)
	if err != nil || !strings.Contains(out, "Paused pin-clientd in a terminal") || !strings.Contains(out, "reconnects by itself") {
		t.Fatalf("pause: %v\n%s", err, out)
	}
	if err := gw.Wait(ctx, func() bool { return !gw.Connected() }); err != nil {
		t.Fatal(err)
	}
	out, _ = d.cli(ctx, "status", "-c", d.cfg, "--control-socket", d.sock)
	if !strings.Contains(out, "paused   Paused until ") || !strings.Contains(out, "— paused by you") {
		t.Errorf("status does not say paused, until when and why:\n%s", out)
	}
	out, err = d.cli(ctx, "resume", "--control-socket", d.sock)
	if err != nil || !strings.Contains(out, "Resumed") {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if err := gw.WaitSessions(ctx, 2); err != nil {
		t.Fatal(err, d.logText())
	}
	if _, err := gw.WaitNodes(ctx, 1); err != nil {
		t.Fatal(err)
	}
}
