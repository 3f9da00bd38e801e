package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
)

// Engine is a relay engine the app runs in-process: the controller it drives plus the
// lifetime. Run blocks until ctx ends and drains running jobs before it returns.
type Engine interface {
	core.Controller
	Run(ctx context.Context) error
}

// EngineFactory builds an engine for a validated config. The engine starts offline; the
// app calls GoOnline when the operator wants it online. secretSource names where the
// secret came from ("keyring", "config") for the status, never the value.
type EngineFactory func(cfg *config.Config, secret protocol.Secret, secretSource string, log *slog.Logger) (Engine, error)

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

// ServiceInstaller installs and starts the background service (the headless engine)
// for the saved config at configPath. It may ask for elevation; it returns a one-line
// description of what was installed.
type ServiceInstaller interface {
	Install(ctx context.Context, configPath string, cfg *config.Config) (string, error)
}

// Autostart manages "Start at login". Supported is false on systems where the app has
// no mechanism; Enabled and SetEnabled are then never called.
type Autostart interface {
	Supported() bool
	Enabled() bool
	SetEnabled(on bool) error
}

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
	// ServiceActive says which installed background service is running, or "" when
	// none is. While one runs the app does not go online: one engine per operator.
	// It may block briefly (systemctl); it is called off the UI thread. nil → never.
	ServiceActive func() string
	Logger        *slog.Logger     // nil → discard
	Now           func() time.Time // nil → time.Now; drives countdowns in the status text
}
