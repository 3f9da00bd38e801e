package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/control"
)

// The verbs that drive a running engine (the service, pin-clientd in a terminal, or the
// desktop app's own engine) through its control API.
func init() {
	subcommands["online"] = subcommand{run: runOnline, summary: "take the running engine online (waits until it is; --no-wait)"}
	subcommands["offline"] = subcommand{run: runOffline, summary: "take the running engine offline: running jobs finish first (--no-wait)"}
	subcommands["reconnect"] = subcommand{run: runReconnect, summary: "make the running engine reconnect now instead of waiting out its backoff"}
	subcommands["reload"] = subcommand{run: runReload, summary: "make the running engine re-read its config: drain, then reconnect with it"}
	subcommands["logs"] = subcommand{run: runLogs, summary: "the running engine's recent log (-f to follow)"}
}

// Bounds of the verbs' waits.
const (
	findTimeout   = 3 * time.Second
	onlineTimeout = 30 * time.Second
	offlineWait   = core.DefaultOfflineGrace + time.Minute // the engine's drain bound, plus a margin
)

// controlFlags are the flags every control verb takes.
type controlFlags struct {
	socket string
	noWait bool
}

func (f *controlFlags) parse(name string, args []string, io cmdIO, wait bool) error {
	fs := flag.NewFlagSet("pin-clientd "+name, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	fs.StringVar(&f.socket, "control-socket", "", "control API endpoint of the engine (default: the system service's, then your own)")
	if wait {
		fs.BoolVar(&f.noWait, "no-wait", false, "return once the engine was asked, without waiting")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; run `pin-clientd %s -h`", fs.Arg(0), name)
	}
	return nil
}

// paths are the endpoints to try: --control-socket, else the system service's, then
// this user's (PIN_CONTROL_SOCKET in io's environment overrides the user one).
func (f *controlFlags) paths(io cmdIO) []string {
	if f.socket != "" {
		return []string{f.socket}
	}
	if p := io.Env(control.SocketEnv); p != "" {
		return []string{control.SystemSocketPath(), p}
	}
	return control.DefaultPaths()
}

// errNoEngine is what every control verb says when nothing answers.
func errNoEngine(err error) error {
	if strings.Contains(err.Error(), "permission denied") {
		return fmt.Errorf("%w; an engine runs that you may not control: for the system service run the command with sudo, or join its group once (`sudo usermod -aG %s $USER`, then log in again)", err, serviceGroupName)
	}
	return fmt.Errorf("%w; start one with `pin-clientd -c config.json` or `pin-clientd service start`", err)
}

// findEngine connects to the running engine or explains that none runs.
func findEngine(ctx context.Context, f controlFlags, io cmdIO) (*control.Client, control.Info, error) {
	fctx, cancel := context.WithTimeout(ctx, findTimeout)
	defer cancel()
	c, info, err := control.Find(fctx, f.paths(io)...)
	if err != nil {
		return nil, control.Info{}, errNoEngine(err)
	}
	return c, info, nil
}

// engineName is how the CLI and the app name an engine process.
func engineName(i control.Info, now time.Time) string {
	var what string
	switch i.Kind {
	case control.KindService:
		what = "the background service"
		if i.Scope == control.ScopeSystem {
			what = "the system service"
		}
	case control.KindApp:
		what = "the PIN Client desktop app"
	default:
		what = "pin-clientd in a terminal"
	}
	s := fmt.Sprintf("%s (PID %d", what, i.PID)
	if !i.Started.IsZero() {
		s += ", up " + roundDuration(now.Sub(i.Started))
	}
	return s + ")"
}

// roundDuration is a duration as an operator reads it: 45s, 12m, 3h5m, 2d4h.
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

func runOnline(ctx context.Context, args []string, io cmdIO) error {
	var f controlFlags
	if err := f.parse("online", args, io, true); err != nil {
		return err
	}
	c, info, err := findEngine(ctx, f, io)
	if err != nil {
		return err
	}
	if err := c.Online(ctx); err != nil {
		return fmt.Errorf("online: %w", err)
	}
	fmt.Fprintf(io.Stdout, "Asked %s to go online.\n", engineName(info, time.Now()))
	if f.noWait {
		return nil
	}
	st, err := waitOnline(ctx, c)
	if err != nil {
		return fmt.Errorf("online: %w", err)
	}
	fmt.Fprintf(io.Stdout, "Online: %s.\n", nodesLine(st))
	return nil
}

// waitOnline follows the engine until it is online with every node registered, or
// says why not (a rejected secret, a failed interview, a link that keeps failing).
func waitOnline(ctx context.Context, c *control.Client) (core.Status, error) {
	wctx, cancel := context.WithTimeout(ctx, onlineTimeout)
	defer cancel()
	last := c.Status()
	for st := range c.Subscribe(wctx) {
		last = st
		switch st.State {
		case core.StateOnline:
			if registered(st) == len(st.Nodes) {
				return st, nil
			}
		case core.StateAuthRejected, core.StateInterviewFailed, core.StateReconnecting:
			if st.LastError != "" {
				return st, fmt.Errorf("%s: %s", st.State, st.LastError)
			}
		}
	}
	if ctx.Err() != nil {
		return last, ctx.Err()
	}
	msg := fmt.Sprintf("not online after %s (state %s)", onlineTimeout, last.State)
	if last.LastError != "" {
		msg += ": " + last.LastError
	}
	return last, errors.New(msg + "; see `pin-clientd logs`")
}

func registered(st core.Status) int {
	n := 0
	for _, node := range st.Nodes {
		if node.ServerID != "" {
			n++
		}
	}
	return n
}

func runOffline(ctx context.Context, args []string, io cmdIO) error {
	var f controlFlags
	if err := f.parse("offline", args, io, true); err != nil {
		return err
	}
	c, info, err := findEngine(ctx, f, io)
	if err != nil {
		return err
	}
	before := c.Status()
	if err := c.Offline(ctx); err != nil {
		return fmt.Errorf("offline: %w", err)
	}
	if f.noWait {
		fmt.Fprintf(io.Stdout, "Asked %s to go offline; running jobs finish first (%d running).\n", engineName(info, time.Now()), before.InFlight)
		return nil
	}
	fmt.Fprintf(io.Stdout, "Taking %s offline: %d running jobs finish first…\n", engineName(info, time.Now()), before.InFlight)
	wctx, cancel := context.WithTimeout(ctx, offlineWait)
	defer cancel()
	if err := c.WaitOffline(wctx); err != nil {
		return fmt.Errorf("offline: waiting for the drain: %w", err)
	}
	fmt.Fprintln(io.Stdout, "Offline. Go online again with `pin-clientd online`.")
	return nil
}

func runReconnect(ctx context.Context, args []string, io cmdIO) error {
	var f controlFlags
	if err := f.parse("reconnect", args, io, false); err != nil {
		return err
	}
	c, info, err := findEngine(ctx, f, io)
	if err != nil {
		return err
	}
	if err := c.Reconnect(ctx); err != nil {
		return fmt.Errorf("reconnect: %w", err)
	}
	fmt.Fprintf(io.Stdout, "Asked %s to reconnect now.\n", engineName(info, time.Now()))
	return nil
}

func runReload(ctx context.Context, args []string, io cmdIO) error {
	var f controlFlags
	if err := f.parse("reload", args, io, false); err != nil {
		return err
	}
	c, info, err := findEngine(ctx, f, io)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Stdout, "Reloading %s from %s: running jobs finish first…\n", engineName(info, time.Now()), info.ConfigPath)
	rctx, cancel := context.WithTimeout(ctx, offlineWait)
	defer cancel()
	wasOffline := c.Status().State == core.StateOffline // the new engine keeps that choice
	if err := c.Reload(rctx); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	if wasOffline {
		fmt.Fprintf(io.Stdout, "Reloaded; the engine stays offline as it was (%d nodes). Go online with `pin-clientd online`.\n", len(c.Status().Nodes))
		return nil
	}
	st, err := waitOnline(ctx, c)
	if err != nil {
		return fmt.Errorf("reloaded, but %w", err)
	}
	fmt.Fprintf(io.Stdout, "Reloaded: %s.\n", nodesLine(st))
	return nil
}

func runLogs(ctx context.Context, args []string, io cmdIO) error {
	fs := flag.NewFlagSet("pin-clientd logs", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	var f controlFlags
	var follow bool
	fs.StringVar(&f.socket, "control-socket", "", "control API endpoint of the engine")
	for _, n := range []string{"f", "follow"} {
		fs.BoolVar(&follow, n, false, "keep printing new lines until interrupted")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; run `pin-clientd logs -h`", fs.Arg(0))
	}
	c, _, err := findEngine(ctx, f, io)
	if err != nil {
		return err
	}
	err = c.Logs(ctx, follow, func(l core.LogLine) error {
		_, err := fmt.Fprintln(io.Stdout, formatLogLine(l))
		return err
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs: %w", err)
	}
	return nil
}

// formatLogLine is one recent log line as `logs` prints it.
func formatLogLine(l core.LogLine) string {
	return l.Time.Local().Format("2006-01-02 15:04:05") + " " + fmt.Sprintf("%-5s", strings.ToUpper(l.Level.String())) + " " + l.Message
}

// nodesLine sums up the nodes: "2 of 2 nodes registered (a, b)".
func nodesLine(st core.Status) string {
	names := make([]string, 0, len(st.Nodes))
	for _, n := range st.Nodes {
		names = append(names, n.Alias)
	}
	return fmt.Sprintf("%d of %d nodes registered (%s)", registered(st), len(st.Nodes), strings.Join(names, ", "))
}
