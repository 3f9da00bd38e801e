package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/control"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
)

// Engine is the app's own relay engine, run in this process when no other engine serves
// the operator: the controller it drives plus the lifetime. Run blocks until ctx ends and drains running jobs before it returns.
type Engine interface {
	core.Controller
	Run(ctx context.Context) error
}

// EngineSpec is what the app's own engine is built from.
type EngineSpec struct {
	Config     *config.Config // validated
	ConfigPath string         // where Config was saved; a reload reads it again
	Secret     protocol.Secret
	// SecretSource names where the secret came from ("OS keyring", "config") for the
	// status, never the value.
	SecretSource string
	Logger       *slog.Logger
	// Reloaded, if set, is called (off the UI thread) with the new config after the
	// engine reloaded itself from ConfigPath (`pin-clientd reload`).
	Reloaded func(*config.Config)
}

// EngineFactory builds the app's own engine. The engine starts offline; the app calls
// GoOnline when the operator wants it online. Run takes the one-engine lock first: when
// another process runs an engine for the operator, Run returns an error matching
// enginelock.ErrHeld at once, and the app attaches to that engine instead.
type EngineFactory func(EngineSpec) (Engine, error)

// Remote is an engine running in another process (the background service, or
// pin-clientd in a terminal) that the app drives over its control API. Every method may
// block on the socket, so the app calls them off the UI thread. Subscribe's channel is
// closed when ctx ends or when the engine goes away (its process stopped).
type Remote interface {
	core.Controller
	// Reload makes the engine read its config file again: running jobs finish, then it
	// reconnects with the new config. It returns the engine's error, if any.
	Reload(ctx context.Context) error
}

// Attacher looks for a running engine serving clientID on this machine (the system
// service first, then a user one: service or pin-clientd in a terminal) and connects to
// its control API. It returns an error when none answers; an engine for another clientId
// is not returned (it is logged). It returns within ctx's deadline.
type Attacher func(ctx context.Context, clientID string) (Remote, EngineInfo, error)

// SecretStore finds and keeps the API secret. Both methods may block (a keyring
// unlock prompt); the app calls them off the UI thread. Errors never contain the secret.
type SecretStore interface {
	// Lookup finds the secret for clientID the way the daemon does (environment,
	// apiSecret from config.json, OS keyring, secret files) and says where it came from.
	Lookup(clientID, configSecret, configPath string) (secret protocol.Secret, source string, err error)
	// Store saves the secret in the OS keyring only (never a file) and reads it back to
	// verify; it fails when no keyring is reachable. It returns where it went.
	Store(clientID string, secret protocol.Secret) (source string, err error)
}

// Found is a local LLM server found by detection, offered as a node in the setup form.
type Found struct {
	Kind     string // what answered: "Ollama", "LM Studio", "vLLM", ...
	URL      string // base URL, e.g. http://localhost:11434
	APIMode  string // config.APIModeOllama or config.APIModeOpenAI
	Models   []string
	Capacity int    // how many requests the server runs at once, if it tells; else 0
	Note     string // a problem found while probing it, with the fix; empty when fine
}

// Detector looks for local LLM servers. It returns within a few seconds (short probe
// deadlines) and never fails: nothing found is an empty slice.
type Detector func(ctx context.Context) []Found

// Probe is what the setup form's Test button learnt about one node's backend.
type Probe struct {
	Models   []string // chat models offered, for the interview-model choice
	Problems []string // what is wrong, worst first, each with its fix; empty when ready
	Blocking bool     // Problems[0] stops the node from serving
}

// Prober checks one node's backend (never sending a chat request) and returns within
// ctx's deadline.
type Prober func(ctx context.Context, n config.Node) Probe

// ServiceInstaller manages the operator's background service (the headless engine).
// Every method may block (it runs the daemon's service commands); the app calls them
// off the UI thread.
type ServiceInstaller interface {
	// Install installs and starts the service for the saved config at configPath. It may
	// ask for elevation; it returns a one-line description of what was installed.
	Install(ctx context.Context, configPath string, cfg *config.Config) (string, error)
	// Uninstall stops the service (its running jobs finish first) and removes it. It
	// returns a one-line description of what was removed.
	Uninstall(ctx context.Context) (string, error)
	// Installed reports whether the service is installed, running or not.
	Installed() bool
}

// Autostart manages "Start at login". Supported is false on systems where the app has
// no mechanism; Enabled and SetEnabled are then never called.
type Autostart interface {
	Supported() bool
	Enabled() bool
	SetEnabled(on bool) error
}

// EngineInfo describes a running engine as its control API reports it: its kind
// (control.KindService, KindDaemon, KindApp), PID, start time, clientId, and the config
// file it reads (Settings → Save writes that file when the app is attached to it).
type EngineInfo = control.Info

// Options are the app's collaborators. The GUI main fills them with the real ones
// (see Defaults); tests inject fakes. Every field except NewEngine may be nil/zero.
type Options struct {
	// ConfigDir holds config.json; "" → os.UserConfigDir()/pin-client.
	ConfigDir string
	NewEngine EngineFactory
	Secrets   SecretStore      // nil → the setup form cannot store a secret (it says so)
	Detect    Detector         // nil → no detection; nodes are entered by hand
	Probe     Prober           // nil → the Test button is hidden
	Installer ServiceInstaller // nil → "Install background service…" is disabled
	Autostart Autostart        // nil → "Start at login" is disabled
	// Attach finds an engine already running for the operator; the app shows and drives
	// it instead of starting its own. nil → the app always runs its own engine.
	Attach Attacher
	Logger *slog.Logger     // nil → discard
	Now    func() time.Time // nil → time.Now; drives countdowns in the status text

	// Banner and BannerNote mark demo mode (DemoOptions): the banner goes into the window
	// title, atop the dashboard with the note, and atop the tray menu.
	Banner, BannerNote string
	// StartDemo, if set, is offered on the first-run setup screen ("Try the demo").
	StartDemo func() error
}
