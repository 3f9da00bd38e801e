package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
)

// isolate points every per-user place an engine touches (its lock's state directory,
// its control socket, the runtime and home directories) into a temporary directory.
// It returns the control socket's path.
func isolate(t *testing.T) string {
	t.Helper()
	// A short base: a Unix socket path holds at most 104-108 bytes.
	base, err := os.MkdirTemp("", "pinapp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	for _, d := range []string{"state", "run", "home"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(base, "run", "engine.sock")
	t.Setenv("XDG_STATE_HOME", filepath.Join(base, "state"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(base, "run"))
	t.Setenv("HOME", filepath.Join(base, "home"))
	t.Setenv("PIN_CONTROL_SOCKET", sock)
	return sock
}

// TestRealEngine drives the app with the real engine (HostEngine: core.Engine behind
// internal/host, and the real Ollama adapter) against the fake gateway (pintest) and a fake Ollama server
// (backendtest): setup → online → a job served → offline, all through the widgets and
// the tray, headless.
func TestRealEngine(t *testing.T) {
	gw := pintest.New(t, pintest.Options{})
	hold := make(chan struct{})
	ollama := backendtest.NewOllama(t, backendtest.Script{
		Deltas: []backends.Delta{{Kind: backends.KindContent, Text: "Hel"}, {Kind: backends.KindContent, Text: "lo"}},
		Usage:  &backends.Usage{PromptTokens: 300, CompletionTokens: 700, TotalTokens: 1000},
		Hold:   hold,
	})
	isolate(t)
	dir := t.TempDir()
	h := newHarness(t, dir, func(h *harness, o *Options) {
		o.NewEngine = HostEngine(h.secrets)
		o.Detect = func(context.Context) []Found {
			return []Found{{Kind: "Ollama", URL: ollama.URL, APIMode: "ollama", Models: backendtest.DefaultOllamaModels}}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	h.u.start(false)
	f := h.u.setup
	h.until("detection", func() bool { return len(f.nodes) == 1 })
	test.Type(f.clientID, pintest.DefaultClientID)
	test.Type(f.secret, pintest.DefaultSecret)
	f.gateway.SetText(gw.URL())
	f.nodes[0].region.SetSelected("us-east")
	f.nodes[0].price.SetText("0.002")
	if f.save.Disabled() {
		t.Fatalf("form not valid: %s", f.problem.Text)
	}
	test.Tap(f.save)

	// The app's work runs on the (test) UI thread: pump it while the engine connects.
	h.until("online", func() bool { return h.u.last.State == core.StateOnline })
	if nodes := gw.Nodes(); len(nodes) != 1 || nodes[0].Alias != "ollama" {
		t.Fatalf("gateway has nodes %+v", nodes)
	}
	d := h.u.dash
	if d.title.Text != "Online" || h.icon() != iconOnline {
		t.Errorf("online: title %q icon %v", d.title.Text, h.icon())
	}
	if !strings.Contains(d.cards[0].models.Text, "llama3:8b") {
		t.Errorf("models = %q", d.cards[0].models.Text)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil || strings.Contains(string(data), pintest.DefaultSecret) {
		t.Fatalf("config.json: %v, holds the secret: %v", err, strings.Contains(string(data), pintest.DefaultSecret))
	}

	// A job: in flight while the backend holds it, then served and billed.
	msgs, _ := json.Marshal([]map[string]string{{"role": "user", "content": "hi"}})
	job, err := gw.Infer(ctx, protocol.InferencePayload{Model: "llama3:8b", Messages: msgs, Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	h.until("job in flight", func() bool { return h.u.last.InFlight == 1 })
	if d.cards[0].jobs.Text != "1 in flight, 0 served" {
		t.Errorf("jobs = %q", d.cards[0].jobs.Text)
	}
	close(hold)
	res, err := job.Wait(ctx)
	if err != nil || !res.OK() {
		t.Fatalf("job: %v %+v", err, res)
	}
	if got := job.Text(pintest.KindContent); got != "Hello" {
		t.Errorf("streamed %q", got)
	}
	h.until("job served", func() bool { return h.u.last.Served == 1 })
	if d.cards[0].tokens.Text != "1000" || d.cards[0].earnings.Text != "$0.0020" {
		t.Errorf("tokens %q earnings %q", d.cards[0].tokens.Text, d.cards[0].earnings.Text)
	}
	for _, l := range h.u.last.Log {
		if strings.Contains(l.Message, `"hi"`) || strings.Contains(l.Message, pintest.DefaultSecret) {
			t.Errorf("log line leaks a prompt or the secret: %q", l.Message)
		}
	}

	// Offline from the tray: the engine disconnects.
	h.tapMenu("Go offline")
	h.until("offline", func() bool { return h.u.last.State == core.StateOffline })
	if err := gw.Wait(ctx, func() bool { return !gw.Connected() }); err != nil {
		t.Errorf("still connected to the gateway after going offline: %v", err)
	}
	if h.icon() != iconOffline {
		t.Errorf("icon %v", h.icon())
	}

	// Quit stops the engine.
	h.tapMenu("Quit")
	h.until("quit", func() bool { return h.fa.quits == 1 })
	if gw.SecretLeaked() {
		t.Error("the raw secret reached the gateway")
	}
}
