package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/control"
	"github.com/pin-client/pin-client/internal/owner"
)

// liveEngine is the running engine's state as `pin-clientd status` shows it.
type liveEngine struct {
	control.Info
	Name      string    `json:"name"` // "the background service (PID 4242, up 3h5m)"
	State     string    `json:"state"`
	Since     time.Time `json:"since"`
	Transport string    `json:"transport"`
	Gateway   string    `json:"gateway"`
	LastError string    `json:"lastError,omitempty"`
	// Paused: the owner has the machine back (pin-clientd pause, the schedule, busy).
	Paused      bool       `json:"paused,omitempty"`
	PauseReason string     `json:"pauseReason,omitempty"`
	PausedUntil time.Time  `json:"pausedUntil,omitzero"`
	InFlight    int        `json:"inFlight"`
	Queued      int        `json:"queued"`
	Served      uint64     `json:"served"`
	Failed      uint64     `json:"failed"`
	Tokens      uint64     `json:"tokens"`
	Nodes       []liveNode `json:"nodes"`
}

type liveNode struct {
	Alias      string `json:"alias"`
	Registered bool   `json:"registered"`
	ServerID   string `json:"serverId,omitempty"`
	Tier       string `json:"tier,omitempty"`
	InFlight   int    `json:"inFlight"`
	Served     uint64 `json:"served"`
	Failed     uint64 `json:"failed"`
	Problem    string `json:"problem,omitempty"`
}

// liveStatus asks the running engine for its state; with none it returns the note.
func liveStatus(ctx context.Context, f controlFlags, io cmdIO) (*liveEngine, string) {
	c, _, err := findEngine(ctx, f, io)
	if err != nil {
		return nil, err.Error()
	}
	info, st, err := c.Fetch(ctx)
	if err != nil {
		return nil, "the engine at " + c.Path() + " did not answer: " + err.Error()
	}
	return newLiveEngine(info, st, time.Now()), ""
}

func newLiveEngine(info control.Info, st core.Status, now time.Time) *liveEngine {
	le := &liveEngine{
		Info: info, Name: engineName(info, now), State: st.State.String(), Since: st.Since,
		Transport: st.Transport, Gateway: st.Gateway, LastError: st.LastError,
		Paused: st.Paused, PauseReason: st.PauseReason, PausedUntil: st.PausedUntil,
		InFlight: st.InFlight, Queued: st.Queued, Served: st.Served, Failed: st.Failed, Tokens: st.Tokens,
	}
	for _, n := range st.Nodes {
		ln := liveNode{Alias: n.Alias, Registered: n.ServerID != "", ServerID: n.ServerID, Tier: n.Tier,
			InFlight: n.InFlight, Served: n.Served, Failed: n.Failed}
		switch {
		case n.BackendError != "":
			ln.Problem = n.BackendError
		case n.Degraded != "":
			ln.Problem = n.Degraded
		}
		le.Nodes = append(le.Nodes, ln)
	}
	return le
}

// writeLive prints the live section that opens `pin-clientd status`.
func writeLive(w io.Writer, e *liveEngine, note string) {
	if e == nil {
		fmt.Fprintf(w, "     engine   %s\n", note)
		return
	}
	ok := "ok  "
	if e.State != core.StateOnline.String() {
		ok = "    "
	}
	if e.State == core.StateAuthRejected.String() {
		ok = "FAIL"
	}
	fmt.Fprintf(w, "%s engine   %s, version %s, config %s\n", ok, e.Name, e.Version, e.ConfigPath)
	link := e.State
	if !e.Since.IsZero() {
		link += " since " + e.Since.Local().Format("2006-01-02 15:04:05")
	}
	fmt.Fprintf(w, "     link     %s, %s to %s\n", link, strings.ToUpper(e.Transport), e.Gateway)
	if e.LastError != "" {
		fmt.Fprintf(w, "         - last error: %s\n", e.LastError)
	}
	if e.Paused {
		fmt.Fprintf(w, "     paused   %s\n", owner.Describe(true, e.PauseReason, e.PausedUntil.Local(), time.Now()))
	}
	fmt.Fprintf(w, "     jobs     %d running, %d waiting, %d served, %d failed, %d tokens\n", e.InFlight, e.Queued, e.Served, e.Failed, e.Tokens)
	for _, n := range e.Nodes {
		reg := "not registered"
		if n.Registered {
			reg = "registered as " + n.ServerID
		}
		tier := n.Tier
		if tier == "" {
			tier = "not interviewed yet"
		}
		fmt.Fprintf(w, "     live     %s: %s, tier %s, %d running, %d served, %d failed\n", n.Alias, reg, tier, n.InFlight, n.Served, n.Failed)
		if n.Problem != "" {
			fmt.Fprintf(w, "         - %s\n", n.Problem)
		}
	}
}
