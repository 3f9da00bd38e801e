package core

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// State is the engine's link state, as an operator would name it.
type State int

const (
	StateOffline         State = iota // not connected and not trying (toggled off, or stopped)
	StateConnecting                   // dialling / authenticating / registering
	StateOnline                       // authenticated, nodes registered, serving jobs
	StateReconnecting                 // link lost; next attempt at Status.RetryAt
	StateDraining                     // going offline: no new jobs, finishing running ones
	StateAuthRejected                 // the gateway refused the credentials; retrying slowly
	StateInterviewFailed              // the gateway failed a node's interview; retry at RetryAt
)

var stateNames = [...]string{"offline", "connecting", "online", "reconnecting", "draining", "auth-rejected", "interview-failed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// MarshalText encodes the state as its word ("online"), so JSON carries the name an
// operator reads, not a number that shifts when a state is added. A state without a
// name is an error.
func (s State) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(stateNames) {
		return nil, fmt.Errorf("state %d has no name", int(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText decodes a word written by MarshalText; an unknown word is an error.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if string(b) == n {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("unknown engine state %q; want one of %s", b, strings.Join(stateNames[:], ", "))
}

// Status is an immutable snapshot of the engine. Receivers must not modify it; every
// slice in it is a fresh copy owned by the snapshot.
type Status struct {
	State     State
	Since     time.Time // when State was entered
	RetryAt   time.Time // next connection attempt (Reconnecting, AuthRejected, InterviewFailed)
	Transport string    // "sse" or "ws": the transport in use or last used
	Gateway   string    // serverUrl
	LastError string    // one line, why we are not online (empty when fine)
	// SecretSource names where the secret came from (env, config, keyring, file); never the value.
	SecretSource string

	// Paused is set while the owner has the machine back (a pause from the tray or CLI,
	// outside the serving schedule, or the machine busy with other work): the engine
	// drains, goes offline and resumes by itself at PausedUntil (or when the machine is
	// idle again).
	Paused      bool
	PauseReason string    // why, in the operator's words, e.g. "paused by you", "outside your serving hours"
	PausedUntil time.Time // when serving resumes by itself; zero when not known (busy)

	Nodes []NodeStatus

	InFlight int // jobs running now, all nodes
	Queued   int // jobs waiting for a permit
	Served   uint64
	Failed   uint64
	Rejected uint64 // answered "busy" because the wait queue was full
	Tokens   uint64 // prompt + completion tokens billed, all nodes
	Earnings float64

	Log []LogLine // recent log lines, oldest first, bounded; never prompt text
}

// NodeStatus is one configured node.
type NodeStatus struct {
	Alias      string
	ServerID   string // node id from REGISTER_NODE_ACK, once known
	BackendURL string
	APIMode    string
	Region     string
	Capacity   int
	Price      float64 // USD per 1K tokens
	Models     []string

	BackendOK    bool   // the last discovery reached the backend
	BackendError string // why not, with the fix
	Degraded     string // e.g. "model X is running on CPU"

	Tier          string // verified / standard / slow / failed; empty before an interview
	Accuracy      float64
	TokensPerSec  float64
	InterviewAt   time.Time
	InterviewNote string // reason from INTERVIEW_COMPLETE / INTERVIEW_FAILED in plain words

	InFlight         int
	Served           uint64
	Failed           uint64
	PromptTokens     uint64
	CompletionTokens uint64
	Earnings         float64 // tokens × price / 1000
}

// LogLine is one recent log record as shown to the operator.
type LogLine struct {
	Time    time.Time
	Level   slog.Level
	Message string // message plus attributes, one line
}

// Controller is what a face (the desktop app, a future local API) needs from an engine.
// *Engine implements it in-process; a remote engine can implement it later.
type Controller interface {
	// Status returns the current snapshot.
	Status() Status
	// Subscribe delivers snapshots as they change, coalesced (a slow reader sees the
	// latest, never a backlog). The channel is closed when ctx ends.
	Subscribe(ctx context.Context) <-chan Status
	// GoOnline connects (no-op when already online or connecting).
	GoOnline()
	// GoOffline stops taking jobs, lets running jobs finish, then disconnects.
	// It returns at once; Status shows Draining then Offline.
	GoOffline()
	// ReconnectNow skips the current backoff wait.
	ReconnectNow()
	// Pause gives the machine back to its owner until until (zero: until Resume):
	// running jobs finish and are answered, the gateway is asked to stop routing new
	// ones here, then the engine goes offline; at until it reconnects by itself. It
	// returns at once; Status shows Paused, PauseReason and PausedUntil.
	Pause(until time.Time)
	// Resume ends a pause (by hand, or of the schedule until its next change) and
	// reconnects if the operator wants the engine online.
	Resume()
}
