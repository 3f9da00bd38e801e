package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pin-client/pin-client/backends/auto"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/control"
	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/enginelock"
	"github.com/pin-client/pin-client/internal/host"
)

// fixture is a config file on disk with fake backends, a fake gateway, and a Host
// options set that builds engines from that file.
type fixture struct {
	t      *testing.T
	gw     *pintest.Gateway
	dir    string
	cfg    string // config path
	sock   string
	ollama *backendtest.Fake
	vllm   *backendtest.Fake
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, cfg: filepath.Join(dir, "config.json"), sock: filepath.Join(dir, "engine.sock")}
	f.gw = pintest.New(t, pintest.Options{})
	f.ollama = backendtest.NewOllama(t, backendtest.Answer("Hel", "lo"))
	f.ollama.SetModels("llama3:8b")
	f.vllm = backendtest.NewOpenAI(t, backendtest.VLLM, backendtest.Answer("M"))
	f.vllm.SetModels("mistral:7b")
	return f
}

// writeConfig writes the config file with the first n of the fixture's nodes.
func (f *fixture) writeConfig(n int, clientID string) {
	f.t.Helper()
	nodes := []map[string]any{
		{"alias": "gpu-ollama", "inferenceUri": f.ollama.URL, "apiMode": "ollama", "region": "us-east", "capacity": 2},
		{"alias": "gpu-vllm", "inferenceUri": f.vllm.URL, "apiMode": "openai", "region": "eu-west", "capacity": 1},
	}[:n]
	b, err := json.Marshal(map[string]any{"clientId": clientID, "serverUrl": f.gw.URL(), "transport": "ws", "nodes": nodes})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(f.cfg, b, 0o600); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) options(kind string) host.Options {
	return host.Options{
		Kind: kind, ConfigPath: f.cfg, StateDir: filepath.Join(f.dir, "state"), Socket: f.sock,
		Build: func(context.Context) (core.Options, error) {
			cfg, _, err := config.Load(f.cfg, nil)
			if err != nil {
				return core.Options{}, err
			}
			return core.Options{
				Config: cfg, Secret: protocol.NewSecret(pintest.DefaultSecret), SecretSource: "test",
				Threads: 2, NewBackend: auto.Backend(nil),
			}, nil
		},
	}
}

// serving is a fixture with one node, a host of kind built from it and running, and the
// node registered at the gateway; stop ends the host (the test's end does too).
func serving(t *testing.T, kind string) (*fixture, *host.Host, context.Context, func() error) {
	t.Helper()
	f := newFixture(t)
	f.writeConfig(1, pintest.DefaultClientID)
	h, err := host.New(context.Background(), f.options(kind))
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, h)
	ctx := waitCtx(t)
	if _, err := f.gw.WaitNodes(ctx, 1); err != nil {
		t.Fatal(err)
	}
	return f, h, ctx, stop
}

// start runs h until the test ends.
func start(t *testing.T, h *host.Host) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var once bool
	var res error
	stop = func() error {
		if !once {
			once = true
			cancel()
			res = <-done
		}
		return res
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitState waits until c reports a status that satisfies ok.
func waitState(t *testing.T, c core.Controller, ok func(core.Status) bool) core.Status {
	t.Helper()
	ctx := waitCtx(t)
	for st := range c.Subscribe(ctx) {
		if ok(st) {
			return st
		}
	}
	t.Fatalf("status never matched; last %+v", c.Status())
	return core.Status{}
}

func TestReloadRegistersNewNodeAndKeepsSubscription(t *testing.T) {
	f, h, ctx, _ := serving(t, control.KindDaemon)
	sub := h.Subscribe(ctx) // one subscription across the reload

	// Through the control API, as `pin-clientd reload` does.
	c := control.NewClient(f.sock, nil)
	f.writeConfig(2, pintest.DefaultClientID)
	if err := c.Reload(ctx); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if _, err := f.gw.WaitNodes(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for st := range sub {
		if len(st.Nodes) == 2 && st.State == core.StateOnline && st.Nodes[1].ServerID != "" {
			break
		}
	}
	if got := f.gw.Sessions(); got != 2 {
		t.Errorf("gateway sessions = %d, want 2 (one per engine)", got)
	}
}

func TestReloadWithBadConfigKeepsEngine(t *testing.T) {
	f, h, ctx, _ := serving(t, control.KindDaemon)
	waitState(t, h, func(s core.Status) bool { return s.State == core.StateOnline })
	if err := os.WriteFile(f.cfg, []byte(`{"clientId": "op_x", "nodes": [{"alias": "a"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := control.NewClient(f.sock, nil).Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), "nodes[0]") {
		t.Fatalf("reload of a broken config: %v, want an error naming nodes[0]", err)
	}
	if st := h.Status(); st.State != core.StateOnline || f.gw.Sessions() != 1 {
		t.Errorf("after a failed reload: state %v, sessions %d; want online on the first session", st.State, f.gw.Sessions())
	}
}

func TestReloadKeepsOfflineChoice(t *testing.T) {
	f, h, ctx, _ := serving(t, control.KindDaemon)
	h.GoOffline()
	waitState(t, h, func(s core.Status) bool { return s.State == core.StateOffline })
	f.writeConfig(2, pintest.DefaultClientID)
	if err := h.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	st := h.Status()
	if st.State != core.StateOffline || len(st.Nodes) != 2 {
		t.Fatalf("after reload: state %v with %d nodes; want offline with 2", st.State, len(st.Nodes))
	}
	h.GoOnline()
	if _, err := f.gw.WaitNodes(ctx, 2); err != nil {
		t.Fatal(err)
	}
}

func TestSecondHostIsRefused(t *testing.T) {
	f, _, ctx, _ := serving(t, control.KindApp)
	o := f.options(control.KindDaemon)
	o.Socket = filepath.Join(f.dir, "second.sock")
	h2, err := host.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	err = h2.Run(ctx)
	var held *enginelock.HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second engine: %v, want *enginelock.HeldError", err)
	}
	if held.Holder.Kind != control.KindApp || held.Holder.PID != os.Getpid() {
		t.Errorf("holder = %+v, want the app in this process", held.Holder)
	}
	if !strings.Contains(err.Error(), "desktop app") {
		t.Errorf("message %q does not name the desktop app", err)
	}
	if f.gw.Sessions() != 1 {
		t.Errorf("gateway sessions = %d, want 1", f.gw.Sessions())
	}
}

func TestControlAPIDrivesHost(t *testing.T) {
	f, _, ctx, stop := serving(t, control.KindService)
	c, info, err := control.Find(ctx, filepath.Join(f.dir, "nothing.sock"), f.sock)
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != control.KindService || info.PID != os.Getpid() || info.ClientID != pintest.DefaultClientID || info.ConfigPath != f.cfg {
		t.Errorf("info = %+v", info)
	}
	if err := c.Offline(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitOffline(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.gw.Wait(ctx, func() bool { return !f.gw.Connected() }); err != nil {
		t.Fatal(err)
	}
	if err := c.Online(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.gw.WaitSessions(ctx, 2); err != nil {
		t.Fatal(err)
	}
	// The endpoint goes away with the engine: watchers see the channel close.
	sub := c.Subscribe(ctx)
	<-sub
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for range sub {
	}
	if _, _, err := control.Find(ctx, f.sock); !errors.Is(err, control.ErrNoEngine) {
		t.Errorf("after stop: Find = %v, want ErrNoEngine", err)
	}
}

// TestOtherScopeEngineRefused: a user engine does not start while the system service
// (another lock directory) serves the same operator; its endpoint tells.
func TestOtherScopeEngineRefused(t *testing.T) {
	f := newFixture(t)
	f.writeConfig(1, pintest.DefaultClientID)
	so := f.options(control.KindService)
	so.Scope = control.ScopeSystem
	so.StateDir = filepath.Join(f.dir, "system-state")
	sys, err := host.New(context.Background(), so)
	if err != nil {
		t.Fatal(err)
	}
	start(t, sys)
	ctx := waitCtx(t)
	if _, err := f.gw.WaitNodes(ctx, 1); err != nil {
		t.Fatal(err)
	}
	uo := f.options(control.KindDaemon)
	uo.Socket = filepath.Join(f.dir, "user.sock")
	uo.OtherEndpoints = []string{f.sock}
	user, err := host.New(context.Background(), uo)
	if err != nil {
		t.Fatal(err)
	}
	err = user.Run(ctx)
	var held *enginelock.HeldError
	if !errors.As(err, &held) || held.Holder.Kind != control.KindService || held.Holder.Scope != control.ScopeSystem {
		t.Fatalf("user engine beside the system service: %v", err)
	}
	if !strings.Contains(err.Error(), "sudo pin-clientd service stop") {
		t.Errorf("message %q does not say how to stop the system service", err)
	}
	// Another operator's engine may run beside it.
	f.writeConfig(1, "op_other")
	other, err := host.New(context.Background(), uo)
	if err != nil {
		t.Fatal(err)
	}
	octx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- other.Run(octx) }()
	waitState(t, other, func(s core.Status) bool { return s.State != core.StateOffline })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("another operator's engine: %v", err)
	}
}

// The config's metricsAddr turns metrics on when no address is passed; a non-loopback
// one is refused unless allowed (here by the config's metricsAllowRemote).
func TestMetricsAddrFromConfig(t *testing.T) {
	f := newFixture(t)
	write := func(extra string) {
		b := fmt.Sprintf(`{"clientId": %q, "serverUrl": %q, "transport": "ws", %s
			"nodes": [{"alias": "gpu", "inferenceUri": %q, "apiMode": "ollama", "region": "global", "capacity": 1}]}`,
			pintest.DefaultClientID, f.gw.URL(), extra, f.ollama.URL)
		if err := os.WriteFile(f.cfg, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`"metricsAddr": "0.0.0.0:9464",`)
	if _, err := host.New(context.Background(), f.options(control.KindDaemon)); err == nil || !strings.Contains(err.Error(), "metricsAllowRemote") {
		t.Fatalf("config metricsAddr on every interface: %v, want the opt-in named", err)
	}
	write(`"metricsAddr": "0.0.0.0:9464", "metricsAllowRemote": true,`)
	if _, err := host.New(context.Background(), f.options(control.KindDaemon)); err != nil {
		t.Fatalf("allowed by the config: %v", err)
	}
}
