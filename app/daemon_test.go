package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/control"
	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/testbin"
)

// These tests drive the real pin-clientd binary (the background service's stand-in)
// against the fake gateway and a fake Ollama, with the app's real engine host and real
// control-API Attacher. Each takes a few seconds; the binary is built once.

// daemonBinary is pin-clientd, built once per test run (CGO_ENABLED=0, like a release).
func daemonBinary(t *testing.T) string {
	return testbin.Build(t, "github.com/pin-client/pin-client/cmd/pin-clientd")
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// daemonProc is a pin-clientd process started by a test.
type daemonProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	log    strings.Builder // guarded by mu
	exited chan struct{}   // closed when the process has exited; err is set then
	err    error
}

func (d *daemonProc) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// wait waits for the process to exit, at most 20 s.
func (d *daemonProc) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-d.exited:
		return d.err
	case <-time.After(20 * time.Second):
		t.Fatalf("pin-clientd did not exit within 20 s:\n%s", d.logText())
		return nil
	}
}

func (d *daemonProc) running() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// startDaemon runs `pin-clientd -c cfg` with this process's isolated environment (see
// isolate) and the secret in PIN_API_SECRET. The test's cleanup kills it.
func startDaemon(t *testing.T, cfg string) *daemonProc {
	t.Helper()
	d, err := launchDaemon(t, "-c", cfg, "--grace", "10s")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// launchDaemon runs pin-clientd with args as startDaemon does. It may be called from
// any goroutine (it does not fail the test itself).
func launchDaemon(t *testing.T, args ...string) (*daemonProc, error) {
	d := &daemonProc{exited: make(chan struct{})}
	d.cmd = exec.Command(daemonBinary(t), args...) // built already: the test called daemonBinary first
	var env []string
	for _, k := range []string{"HOME", "PATH", "XDG_STATE_HOME", "XDG_RUNTIME_DIR", control.SocketEnv} {
		env = append(env, k+"="+os.Getenv(k))
	}
	d.cmd.Env = append(env, "PIN_API_SECRET="+pintest.DefaultSecret)
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.log.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
		}
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.exited
		if strings.Contains(d.logText(), pintest.DefaultSecret) {
			t.Error("the secret appeared in the daemon's log")
		}
	})
	return d, nil
}

// realSetup is a fake gateway, a fake Ollama and the app's config.json (which the
// daemon reads too, as the service installed by the app does), in an isolated
// environment.
type realSetup struct {
	gw      *pintest.Gateway
	dir     string // the app's ConfigDir
	cfgPath string
	sock    string
}

func newRealSetup(t *testing.T) *realSetup {
	t.Helper()
	daemonBinary(t) // built before the tests' deadlines start
	s := &realSetup{sock: isolate(t), dir: t.TempDir()}
	s.gw = pintest.New(t, pintest.Options{})
	be := backendtest.NewOllama(t, backendtest.Answer("hello"))
	be.SetModels("llama3:8b")
	s.cfgPath = filepath.Join(s.dir, "config.json")
	cfg := &config.Config{ClientID: pintest.DefaultClientID, ServerURL: s.gw.URL(), Nodes: []config.Node{{
		Alias: "gpu", InferenceURI: be.URL, APIMode: config.APIModeOllama, Region: "global", Capacity: 1,
	}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Save(s.cfgPath, false); err != nil {
		t.Fatal(err)
	}
	return s
}

// app is a harness on the setup's config with the real engine host and the real
// Attacher; the secret is in the (fake) keyring. Its timers are real (a retry after the
// lock was found held fires by itself).
func (s *realSetup) app(t *testing.T, wantOnline bool) *harness {
	t.Helper()
	h := newHarness(t, s.dir, func(h *harness, o *Options) {
		o.NewEngine = HostEngine(h.secrets)
		o.Attach = AttachRunning(nil)
	})
	if _, err := h.secrets.Store(pintest.DefaultClientID, secretOf(pintest.DefaultSecret)); err != nil {
		t.Fatal(err)
	}
	h.fa.Preferences().SetBool(prefWantOnline, wantOnline)
	h.u.after = func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }
	return h
}

// waitAnswering waits until an engine answers on the control socket.
func (s *realSetup) waitAnswering(ctx context.Context, t *testing.T, d *daemonProc) control.Info {
	t.Helper()
	for {
		_, info, err := control.Find(ctx, s.sock)
		if err == nil {
			return info
		}
		if ctx.Err() != nil || !d.running() {
			t.Fatalf("pin-clientd does not answer on %s: %v\n%s", s.sock, err, d.logText())
		}
		t := time.NewTimer(50 * time.Millisecond) // the process is starting: nothing to wait on
		select {
		case <-t.C:
		case <-d.exited:
		}
	}
}

// TestAppAttachesToRealDaemon: a pin-clientd process serves the operator; the app
// attaches to it instead of starting an engine, the tray toggle takes it offline (the
// gateway sees the node leave) and online again, and Quit leaves it running. A second
// app attaches too; when the daemon stops, that app starts its own engine.
func TestAppAttachesToRealDaemon(t *testing.T) {
	s := newRealSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := startDaemon(t, s.cfgPath)
	if _, err := s.gw.WaitNodes(ctx, 1); err != nil {
		t.Fatalf("%v\n%s", err, d.logText())
	}
	info := s.waitAnswering(ctx, t, d)
	if info.Kind != control.KindDaemon || info.PID != d.cmd.Process.Pid || info.ConfigPath != s.cfgPath {
		t.Fatalf("daemon info %+v", info)
	}

	h := s.app(t, false)
	h.u.start(false)
	h.until("attached and online", func() bool { return h.u.remote != nil && h.u.last.State == core.StateOnline })
	if h.u.eng != nil {
		t.Fatal("the app runs its own engine beside the daemon")
	}
	want := fmt.Sprintf("Engine: pin-clientd in a terminal (PID %d, up ", d.cmd.Process.Pid)
	if got := h.u.dash.engine.Text; !strings.HasPrefix(got, want) {
		t.Errorf("engine line = %q, want prefix %q", got, want)
	}
	h.menuItem("PIN Client: Online (pin-clientd in a terminal)")

	// The tray toggle drives the daemon.
	h.tapMenu("Go offline")
	if err := s.gw.Wait(ctx, func() bool { return !s.gw.Connected() }); err != nil {
		t.Fatalf("the gateway still sees the operator after Go offline: %v", err)
	}
	h.until("offline shown", func() bool { return h.u.last.State == core.StateOffline })
	h.tapMenu("Go online")
	if err := s.gw.Wait(ctx, func() bool { return s.gw.Connected() && len(s.gw.Nodes()) == 1 }); err != nil {
		t.Fatalf("the daemon did not come back online: %v", err)
	}
	h.until("online shown", func() bool { return h.u.last.State == core.StateOnline })

	// Quit leaves the daemon running and serving.
	h.tapMenu("Quit")
	h.until("quit", func() bool { return h.fa.quits == 1 })
	if _, info2, err := control.Find(ctx, s.sock); err != nil || info2.PID != d.cmd.Process.Pid || !d.running() {
		t.Fatalf("the daemon does not answer after the app quit: %v %+v", err, info2)
	}
	if c, _, _ := control.Find(ctx, s.sock); c.Status().State != core.StateOnline || !s.gw.Connected() {
		t.Error("the daemon went offline when the app quit")
	}

	// Another app attaches; the daemon stops (Ctrl-C); the app takes over with its own
	// engine, online as the operator left the app's engine.
	h2 := s.app(t, true)
	h2.u.start(false)
	h2.until("second app attached", func() bool { return h2.u.remote != nil })
	h2.now = h2.now.Add(time.Minute) // attached a while ago: no pause before looking again
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.wait(t); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, d.logText())
	}
	h2.until("own engine online", func() bool { return h2.u.eng != nil && h2.u.last.State == core.StateOnline })
	if got := h2.u.dash.engine.Text; got != "Engine: this app" {
		t.Errorf("engine line = %q", got)
	}
	if err := s.gw.Wait(ctx, func() bool { return s.gw.Connected() && len(s.gw.Nodes()) == 1 }); err != nil {
		t.Fatalf("the app's engine is not registered: %v", err)
	}
	h2.tapMenu("Quit")
	h2.until("second app quit", func() bool { return h2.fa.quits == 1 })
	if err := s.gw.Wait(ctx, func() bool { return !s.gw.Connected() }); err != nil {
		t.Errorf("the app's own engine still connected after Quit: %v", err)
	}
}

// TestAppEngineAndDaemonNeverBoth: with no engine running the app starts its own, and
// the CLI drives it through the control socket; a pin-clientd started meanwhile is
// refused (exit 1, naming the app). With the daemon running, the app's own engine is
// refused, and the app says who serves.
func TestAppEngineAndDaemonNeverBoth(t *testing.T) {
	s := newRealSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	h := s.app(t, true)
	h.u.start(false)
	h.until("own engine online", func() bool { return h.u.eng != nil && h.u.last.State == core.StateOnline })
	if _, err := s.gw.WaitNodes(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The app's engine is reachable over the control API, as KindApp.
	c, info, err := control.Find(ctx, s.sock)
	if err != nil || info.Kind != control.KindApp || info.PID != os.Getpid() {
		t.Fatalf("the app's engine on the control socket: %v %+v", err, info)
	}
	if err := c.Offline(ctx); err != nil {
		t.Fatal(err)
	}
	h.until("offline from the CLI's API", func() bool { return h.u.last.State == core.StateOffline })
	if err := c.Online(ctx); err != nil {
		t.Fatal(err)
	}
	h.until("online again", func() bool { return h.u.last.State == core.StateOnline })

	// `pin-clientd reload` of the app's engine: it reloads, and the app shows (and its
	// Settings edit) the new config, not the one it started with.
	cfg, _, err := config.Load(s.cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Nodes[0].Capacity++
	wantCap := cfg.Nodes[0].Capacity
	if err := cfg.Save(s.cfgPath, false); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(ctx); err != nil {
		t.Fatalf("reload of the app's engine: %v", err)
	}
	h.until("the app's config follows the reload", func() bool { return h.u.cfg.Nodes[0].Capacity == wantCap })
	h.until("online after the reload", func() bool { return h.u.last.State == core.StateOnline })

	// A second engine for the operator: pin-clientd is refused.
	d := startDaemon(t, s.cfgPath)
	err = d.wait(t)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("second engine: %v\n%s", err, d.logText())
	}
	wantMsg := fmt.Sprintf("the PIN Client desktop app (PID %d", os.Getpid())
	if !strings.Contains(d.logText(), wantMsg) || !strings.Contains(d.logText(), "another engine already serves operator") {
		t.Errorf("refusal does not name the app:\n%s", d.logText())
	}
	if h.u.last.State != core.StateOnline || len(s.gw.Nodes()) != 1 {
		t.Error("the refused daemon disturbed the app's engine")
	}
	h.tapMenu("Quit")
	h.until("quit", func() bool { return h.fa.quits == 1 })

	// Now the daemon runs; an app whose own engine starts anyway (it found nothing to
	// attach to: no Attacher) is refused by the lock and says who serves.
	d = startDaemon(t, s.cfgPath)
	s.waitAnswering(ctx, t, d)
	h2 := s.app(t, true)
	h2.u.opts.Attach = nil
	h2.u.start(false) // refused, retried a moment later, refused again: then told
	h2.until("told", func() bool { return h2.u.message != "" })
	want := fmt.Sprintf("pin-clientd in a terminal (PID %d", d.cmd.Process.Pid)
	if !strings.Contains(h2.u.message, want) || !strings.Contains(h2.u.dash.reason.Text, want) {
		t.Errorf("message %q, reason %q; want them to name %q", h2.u.message, h2.u.dash.reason.Text, want)
	}
	if !d.running() || !s.gw.Connected() {
		t.Error("the daemon was disturbed by the refused app engine")
	}
}

// procInstaller stands in for the service manager: Install starts the real
// `pin-clientd service run --user` (what the installed unit runs), Uninstall stops it
// with SIGTERM (what `systemctl --user stop` sends) and waits for it to exit.
type procInstaller struct {
	t         *testing.T
	cfg       string
	mu        sync.Mutex
	d         *daemonProc // guarded by mu
	installed atomic.Bool
}

func (p *procInstaller) Install(context.Context, string, *config.Config) (string, error) {
	d, err := launchDaemon(p.t, "service", "run", "--user", "-c", p.cfg, "--grace", "10s")
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	p.d = d
	p.mu.Unlock()
	p.installed.Store(true)
	return "Installed and started the user service.", nil
}

func (p *procInstaller) Uninstall(ctx context.Context) (string, error) {
	p.mu.Lock()
	d := p.d
	p.mu.Unlock()
	if d == nil {
		return "", errors.New("not installed")
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	p.installed.Store(false)
	return "Uninstalled the user service.", nil
}

func (p *procInstaller) Installed() bool { return p.installed.Load() }

func (p *procInstaller) proc() *daemonProc {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.d
}

// TestHandOffToRealService: the app's own engine serves; "Install background service"
// drains and stops it (releasing the lock), the real service process starts (it would
// be refused if the app's engine still held the lock) and the app attaches to it;
// "Remove background service" stops the service and the app's engine takes over online.
func TestHandOffToRealService(t *testing.T) {
	s := newRealSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	inst := &procInstaller{t: t, cfg: s.cfgPath}
	h := s.app(t, true)
	h.u.opts.Installer = inst
	h.u.start(false)
	h.until("own engine online", func() bool { return h.u.eng != nil && h.u.last.State == core.StateOnline })
	if _, err := s.gw.WaitNodes(ctx, 1); err != nil {
		t.Fatal(err)
	}

	h.u.doInstall()
	h.until("attached to the service", func() bool { return h.u.remote != nil && h.u.last.State == core.StateOnline })
	svc := inst.proc()
	want := fmt.Sprintf("Engine: background service (PID %d, up ", svc.cmd.Process.Pid)
	if got := h.u.dash.engine.Text; !strings.HasPrefix(got, want) || h.u.eng != nil {
		t.Fatalf("engine line %q (want prefix %q), own engine %v\n%s", got, want, h.u.eng, svc.logText())
	}
	if !strings.Contains(h.u.message, "Installed and started the user service.") {
		t.Errorf("message = %q", h.u.message)
	}
	if err := s.gw.Wait(ctx, func() bool { return s.gw.Connected() && len(s.gw.Nodes()) == 1 }); err != nil {
		t.Fatalf("the service is not registered: %v\n%s", err, svc.logText())
	}
	h.menuItem("Remove background service…")

	// Settings → Save writes the config the service reads and the service reloads it.
	test.Tap(h.u.dash.settings)
	f := h.u.setup
	if f == nil || f.save.Text != "Save and reload" || f.path != s.cfgPath {
		t.Fatalf("settings while attached: %+v", f)
	}
	f.nodes[0].alias.SetText("gpu-renamed")
	test.Tap(f.save)
	// The app's UI queue must run (Save hands the reload to it); an attached engine's
	// uptime re-renders it every second, so until sees the gateway change.
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(s.cfgPath)
			t.Logf("config:\n%s\nnodes %+v\nmessage %q\nservice log:\n%s", b, s.gw.Nodes(), h.u.message, svc.logText())
		}
	})
	h.until("the service registered the renamed node", func() bool { // the gateway keeps the old record too
		return s.gw.Connected() && slices.ContainsFunc(s.gw.Nodes(), func(n pintest.Node) bool { return n.Alias == "gpu-renamed" })
	})
	h.until("renamed node shown", func() bool {
		return len(h.u.dash.cards) == 1 && h.u.dash.cards[0].card.Title == "gpu-renamed" && h.u.last.State == core.StateOnline
	})
	if svc.cmd.Process.Pid != h.u.remote.info.PID || !svc.running() {
		t.Error("the service restarted instead of reloading")
	}

	h.now = h.now.Add(time.Minute)
	h.u.doRemove()
	h.until("own engine online again", func() bool { return h.u.eng != nil && h.u.last.State == core.StateOnline })
	if svc.running() {
		t.Error("the service still runs after Remove")
	}
	if err := s.gw.Wait(ctx, s.gw.Connected); err != nil {
		t.Fatalf("the app's engine is not connected: %v", err)
	}
	if got := h.u.dash.cards[0].card.Title; got != "gpu-renamed" {
		t.Errorf("the app's engine serves %q, not the saved config", got)
	}
	h.menuItem("Install background service…")
	if h.u.heldShown {
		t.Errorf("the take-over ran into the exiting service's lock and told the operator: %q", h.u.message)
	}
	h.tapMenu("Quit")
	h.until("quit", func() bool { return h.fa.quits == 1 })
}
