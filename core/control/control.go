package control

import (
	"context"
	"errors"
	"time"

	"github.com/pin-client/pin-client/core"
)

// APIVersion is the version of the wire API: every path starts with /v1/ and every
// request carries the header VersionHeader: APIVersion.
const APIVersion = "v1"

// VersionHeader is the request header naming the API version the client speaks.
const VersionHeader = "Pin-Control-Version"

// Host is the Host header clients send. The server accepts it and "localhost", nothing
// else (a browser page that rebinds a DNS name to 127.0.0.1 sends its own name).
const Host = "pin-client"

// Kinds of engine processes.
const (
	KindService = "service" // the installed background service
	KindDaemon  = "daemon"  // pin-clientd in a terminal
	KindApp     = "app"     // the desktop app's own in-process engine
)

// Scopes of engine processes.
const (
	ScopeUser   = "user"   // runs as the operator's user
	ScopeSystem = "system" // the system-wide service (root, LocalSystem)
)

// Info describes the engine process behind an endpoint.
type Info struct {
	Kind       string    `json:"kind"`  // KindService, KindDaemon or KindApp
	Scope      string    `json:"scope"` // ScopeUser or ScopeSystem
	PID        int       `json:"pid"`
	Started    time.Time `json:"started"` // when the process started
	Version    string    `json:"version"`
	ClientID   string    `json:"clientId"`
	ConfigPath string    `json:"configPath"`
	Socket     string    `json:"socket"` // the endpoint path it serves
}

// Engine is what a Server serves: core.Controller plus Reload. *core.Engine satisfies
// the Controller part; the process that owns it adds Reload.
type Engine interface {
	core.Controller
	// Reload re-reads the config file and, if valid, drains running jobs and reconnects
	// with it, without restarting the process. An invalid config returns an error naming
	// the field and the running engine is untouched.
	Reload(ctx context.Context) error
}

var (
	// ErrInUse is returned by Listen when a live engine already answers on the path.
	ErrInUse = errors.New("another engine is already serving this control endpoint")
	// ErrNoEngine is returned by Find when no engine answers on any of the paths.
	ErrNoEngine = errors.New("no engine running")
	// ErrEngineGone is returned by streams (watch, logs -f, WaitOffline) that ended
	// because the engine went away: its process exited or its server shut down.
	ErrEngineGone = errors.New("the engine went away")
)

// StatusError is an error answer of the server: the HTTP status and the one-line
// message of its {"error": …} body. Error returns the message alone.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// statusBody is the answer of GET /v1/status.
type statusBody struct {
	Engine Info        `json:"engine"`
	Status core.Status `json:"status"`
}

type errorBody struct {
	Error string `json:"error"`
}

type okBody struct {
	OK bool `json:"ok"`
}
