package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/owner"
)

// The owner's verbs: give the machine back for a while, and take it again.
func init() {
	subcommands["pause"] = subcommand{run: runPause, summary: "pause serving: running jobs finish, then offline until --for 1h, --until 08:00|tomorrow, or `resume`"}
	subcommands["resume"] = subcommand{run: runResume, summary: "end a pause (and serve outside the schedule until its next change)"}
}

// pauseEnd turns --for / --until into the pause's end at now (zero: until resumed).
// --until takes "HH:MM" (the next such local time), "tomorrow" (the next 08:00) or an
// RFC 3339 time.
func pauseEnd(forArg, untilArg string, now time.Time) (time.Time, error) {
	switch {
	case forArg != "" && untilArg != "":
		return time.Time{}, fmt.Errorf("give --for or --until, not both")
	case forArg != "":
		d, err := time.ParseDuration(forArg)
		if err != nil || d <= 0 {
			return time.Time{}, fmt.Errorf("--for %q: not a positive duration; use e.g. 30m, 1h or 2h30m", forArg)
		}
		return now.Add(d), nil
	case untilArg == "":
		return time.Time{}, nil
	case strings.EqualFold(untilArg, "tomorrow"):
		return owner.Tomorrow(now), nil
	}
	if m, err := config.ParseClock(untilArg); err == nil {
		return owner.NextClock(now, m), nil
	}
	if t, err := time.Parse(time.RFC3339, untilArg); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--until %q: use a time of day such as 08:00, \"tomorrow\" (next %02d:00) or an RFC 3339 time", untilArg, owner.TomorrowHour)
}

func runPause(ctx context.Context, args []string, io cmdIO) error {
	fs := flag.NewFlagSet("pin-clientd pause", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	var f controlFlags
	var forArg, untilArg string
	fs.StringVar(&f.socket, "control-socket", "", "control API endpoint of the engine (default: the system service's, then your own)")
	fs.StringVar(&forArg, "for", "", "pause for this long, e.g. 1h or 30m")
	fs.StringVar(&untilArg, "until", "", `pause until this local time ("08:00"), "tomorrow" (next 08:00) or an RFC 3339 time`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; run `pin-clientd pause -h`", fs.Arg(0))
	}
	now := time.Now()
	until, err := pauseEnd(forArg, untilArg, now)
	if err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	c, info, err := findEngine(ctx, f, io)
	if err != nil {
		return err
	}
	before := c.Status()
	got, err := c.RequestPause(ctx, until)
	if err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	when := "until you run `pin-clientd resume`"
	if !got.IsZero() {
		when = "until " + owner.When(got.Local(), now) + ", then it reconnects by itself"
	}
	fmt.Fprintf(io.Stdout, "Paused %s %s; %d running jobs finish first.\n", engineName(info, now), when, before.InFlight)
	return nil
}

func runResume(ctx context.Context, args []string, io cmdIO) error {
	var f controlFlags
	if err := f.parse("resume", args, io, false); err != nil {
		return err
	}
	c, info, err := findEngine(ctx, f, io)
	if err != nil {
		return err
	}
	if err := c.RequestResume(ctx); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	fmt.Fprintf(io.Stdout, "Resumed %s.\n", engineName(info, time.Now()))
	if st := c.Status(); st.Paused {
		fmt.Fprintf(io.Stdout, "Still paused: %s.\n", owner.Describe(st.Paused, st.PauseReason, st.PausedUntil.Local(), time.Now()))
	}
	return nil
}
