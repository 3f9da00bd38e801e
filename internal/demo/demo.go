// Package demo is the try-it-now demo that needs no PIN account: `pin-clientd demo` and
// `pin-client --demo`. Start brings up, in this process and on loopback only, the local
// PIN gateway (core/pintest: both operator transports, an interview on registration,
// the OpenAI-compatible consumer side) and a backend: the local LLM server detection
// finds (backends/detect), or else the built-in demo backend, which is not a real model
// and says so wherever it shows. EngineOptions connects a relay engine to that gateway
// with throwaway credentials held in memory; RunConsumers sends a handful of varied
// consumer requests, a few seconds apart and some at once, so the engine serves jobs,
// counts tokens and estimates earnings as it would on the PIN network.
//
// The demo never touches the real gateway, the OS keyring, the user's config file, the
// engine lock or the control socket of a real engine: its files live in a temporary
// directory that Close removes, its engine has no lock and no control endpoint, and its
// secret never leaves the process.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pin-client/pin-client/backends/auto"
	"github.com/pin-client/pin-client/backends/detect"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/nodecheck"
	"github.com/pin-client/pin-client/internal/selftest"
)

// Banner marks every demo surface: the window title, the dashboard header, the tray
// and the daemon's output.
const Banner = "Demo — not connected to the PIN network"

// BuiltInLabel names the built-in backend wherever it shows.
const BuiltInLabel = "built-in demo backend — not a real model"

// NodeAlias is the demo node's alias.
const NodeAlias = "demo-node"

// Price is the demo node's price per 1K tokens (the network's default).
const Price = config.DefaultPrice

// Backend is the LLM server the demo node serves from.
type Backend struct {
	Kind    string // what answered ("ollama", "lmstudio", …); BuiltInLabel for the fake
	URL     string // the node's inferenceUri
	APIMode string // config.APIModeOllama or config.APIModeOpenAI
	Model   string // the model the consumer requests ask for
	// Capacity is how many requests the node runs at once (at least 1).
	Capacity int
	BuiltIn  bool // the built-in demo backend, not a real model
}

// String describes the backend in one line, e.g. "ollama at http://127.0.0.1:11434,
// model llama3.1:8b" or "built-in demo backend — not a real model (…)".
func (b Backend) String() string {
	if b.BuiltIn {
		return BuiltInLabel + " (" + b.URL + ", model " + b.Model + ")"
	}
	return b.Kind + " at " + b.URL + ", model " + b.Model
}

// Options configure Start. The zero value detects a local server and falls back to the
// built-in backend at a realistic pace.
type Options struct {
	// BuiltIn skips detection and always uses the built-in demo backend.
	BuiltIn bool
	// Find looks for a local LLM server with a chat model; nil → detection
	// (backends/detect, loopback only). ok false → the built-in backend.
	Find func(ctx context.Context) (b Backend, ok bool)
	// TokenDelay is the built-in backend's time per token; 0 → DefaultTokenDelay;
	// negative → no delay (tests).
	TokenDelay time.Duration
	// Transport is "sse" (default) or "ws".
	Transport string
	// Logger receives the gateway's log; nil discards.
	Logger *slog.Logger
}

// Demo is a running demo: gateway, backend and throwaway credentials. Close it.
type Demo struct {
	// Dir is the demo's temporary directory (the app keeps its config.json there).
	// Close removes it.
	Dir     string
	Gateway *pintest.Gateway
	Backend Backend
	// Config is the demo operator's config (validated); ClientID is a throwaway
	// op_demo_… id, ServerURL the local gateway.
	Config *config.Config
	secret protocol.Secret

	fake *fakeBackend // nil when a real server is used

	mu    sync.Mutex
	stats Stats

	closeOnce sync.Once
}

// Start brings the demo up: a temporary directory, the built-in backend or a detected
// server, and the local gateway on a free loopback port, interviewing the node when it
// registers. Nothing connects yet: run an engine with EngineOptions.
func Start(ctx context.Context, o Options) (*Demo, error) {
	dir, err := os.MkdirTemp("", "pin-demo-")
	if err != nil {
		return nil, fmt.Errorf("demo: temporary directory: %w", err)
	}
	d := &Demo{Dir: dir}
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()

	found := false
	if !o.BuiltIn {
		find := o.Find
		if find == nil {
			find = Detect
		}
		d.Backend, found = find(ctx)
	}
	if !found {
		delay := o.TokenDelay
		switch {
		case delay == 0:
			delay = DefaultTokenDelay
		case delay < 0:
			delay = 0
		}
		d.fake, err = startFake(delay)
		if err != nil {
			return nil, err
		}
		d.Backend = Backend{Kind: BuiltInLabel, URL: d.fake.url, APIMode: config.APIModeOllama, Model: FakeModel, Capacity: 2, BuiltIn: true}
	}
	d.Backend.Capacity = max(1, min(d.Backend.Capacity, 4))

	clientID := "op_demo_" + randHex(6)
	sec := "pin_sk_demo_" + randHex(24) // throwaway: valid at this in-process gateway only
	d.secret = protocol.NewSecret(sec)
	gw, err := pintest.Listen("127.0.0.1:0", pintest.Options{
		ClientID: clientID, Secret: sec, Logger: o.Logger,
		InterviewOnRegister: selftest.GatewayInterview, Grade: selftest.GatewayGrader("demo gateway"),
		QueueTimeout: 2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: local gateway: %w", err)
	}
	d.Gateway = gw

	transport := o.Transport
	if transport == "" {
		transport = "sse"
	}
	price := Price
	d.Config = &config.Config{
		ClientID: clientID, ServerURL: gw.URL(), Transport: transport, ReconnectDelaySecs: 1,
		Nodes: []config.Node{{
			Alias: NodeAlias, InferenceURI: d.Backend.URL, APIMode: d.Backend.APIMode, Region: "global",
			Capacity: d.Backend.Capacity, PricePerThousandTokens: &price, InterviewModel: d.Backend.Model,
		}},
	}
	if err := d.Config.Validate(); err != nil {
		return nil, fmt.Errorf("demo: config: %w", err)
	}
	ok = true
	return d, nil
}

// Secret is the demo operator's throwaway secret (in memory only).
func (d *Demo) Secret() protocol.Secret { return d.secret }

// SecretSource is what the dashboard shows as the secret's origin.
const SecretSource = "demo (throwaway, in memory)"

// ConfigPath writes the demo config (no secret in it) into Dir and returns its path:
// the desktop app reads its config from a directory.
func (d *Demo) ConfigPath() (string, error) {
	p := filepath.Join(d.Dir, "config.json")
	if err := d.Config.Save(p, false); err != nil {
		return "", fmt.Errorf("demo: write %s: %w", p, err)
	}
	return p, nil
}

// EngineOptions are the options of an engine serving the demo: the demo config and
// secret, online from the start, jobs at once up to the node's capacity, the real
// backend adapters. A detected server is checked like any node (a model on CPU is
// shown); the built-in backend is not.
func (d *Demo) EngineOptions(log *slog.Logger) core.Options {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := core.Options{
		Config: d.Config, Secret: d.secret, SecretSource: SecretSource,
		Threads: d.Backend.Capacity, Grace: 5 * time.Second, OfflineGrace: 30 * time.Second,
		NewBackend: auto.Backend(log), Logger: log,
	}
	if !d.Backend.BuiltIn {
		o.CheckNode = nodecheck.For(log)
	}
	return o
}

// Close stops the gateway (ending the engine's session) and the built-in backend and
// removes the temporary directory. Stop the engine first for a clean drain. Idempotent.
func (d *Demo) Close() {
	d.closeOnce.Do(func() {
		if d.Gateway != nil {
			d.Gateway.Close()
		}
		if d.fake != nil {
			d.fake.close()
		}
		if d.Dir != "" {
			_ = os.RemoveAll(d.Dir)
		}
	})
}

// Detect finds a local LLM server with a chat model (backends/detect, loopback only).
// The first server that answered without a problem and lists a chat model wins; its
// first chat model is the one the demo asks for.
func Detect(ctx context.Context) (Backend, bool) {
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	for _, s := range detect.Scan(ctx, detect.Options{}) {
		models := s.ChatModels()
		if s.Err != nil || len(models) == 0 || s.APIMode == "" {
			continue
		}
		return Backend{Kind: string(s.Kind), URL: s.URL, APIMode: s.APIMode, Model: models[0].Name, Capacity: s.Parallel}, true
	}
	return Backend{}, false
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// errClosed: the demo's gateway is gone.
var errClosed = errors.New("demo: the local gateway stopped")
