package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/control"
	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/testbin"
)

// daemonBinary is pin-clientd, built once per test run (CGO_ENABLED=0, like a release).
func daemonBinary(t *testing.T) string {
	return testbin.Build(t, "github.com/pin-client/pin-client/cmd/pin-clientd")
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// realDaemon is a pin-clientd process (the service stand-in) against a fake gateway.
type realDaemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	dir    string
	cfg    string
	sock   string
	env    []string
	mu     sync.Mutex
	log    strings.Builder // guarded by mu
	exited chan error
}

func (d *realDaemon) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// daemonEnv is the environment of a test daemon: its own HOME, state and runtime dirs
// and control socket inside dir; never the real ones.
func daemonEnv(dir string) []string {
	return []string{
		"PIN_API_SECRET=" + pintest.DefaultSecret, "HOME=" + dir, "PATH=" + os.Getenv("PATH"),
		"XDG_STATE_HOME=" + filepath.Join(dir, "state"), "XDG_RUNTIME_DIR=" + filepath.Join(dir, "run"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		control.SocketEnv + "=" + filepath.Join(dir, "engine.sock"),
	}
}

// writeDaemonConfig writes a config with the given nodes (alias → backend URL, Ollama).
func writeDaemonConfig(t *testing.T, path, gateway string, nodes ...[2]string) {
	t.Helper()
	var ns []map[string]any
	for _, n := range nodes {
		ns = append(ns, map[string]any{"alias": n[0], "inferenceUri": n[1], "apiMode": "ollama", "region": "global", "capacity": 1})
	}
	b, err := json.Marshal(map[string]any{"clientId": pintest.DefaultClientID, "serverUrl": gateway, "transport": "ws", "nodes": ns})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startDaemon runs the real binary with args in dir's environment; the test ends it.
func startDaemon(t *testing.T, dir, cfg string, args ...string) *realDaemon {
	t.Helper()
	return startDaemonEnv(t, dir, cfg, nil, args...)
}

// startServingDaemon runs the real binary with one Ollama node ("gpu", llama3:8b) against
// a new pintest gateway, and waits until the gateway sees the node. The context ends
// with the test, after 60 s at most.
func startServingDaemon(t *testing.T) (*realDaemon, *pintest.Gateway, context.Context) {
	t.Helper()
	dir := t.TempDir()
	gw := pintest.New(t, pintest.Options{})
	be := backendtest.NewOllama(t, backendtest.Answer("a"))
	be.SetModels("llama3:8b")
	cfg := filepath.Join(dir, "config.json")
	writeDaemonConfig(t, cfg, gw.URL(), [2]string{"gpu", be.URL})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	d := startDaemon(t, dir, cfg)
	if _, err := gw.WaitNodes(ctx, 1); err != nil {
		t.Fatal(err, d.logText())
	}
	return d, gw, ctx
}

// startDaemonEnv is startDaemon with extra environment variables (KEY=value).
func startDaemonEnv(t *testing.T, dir, cfg string, extra []string, args ...string) *realDaemon {
	t.Helper()
	d := &realDaemon{t: t, dir: dir, cfg: cfg, sock: filepath.Join(dir, "engine.sock"), env: append(daemonEnv(dir), extra...), exited: make(chan error, 1)}
	d.cmd = exec.Command(daemonBinary(t), append([]string{"-c", cfg}, args...)...)
	d.cmd.Env = d.env
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.log.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
		}
	}()
	go func() {
		<-scanned
		d.exited <- d.cmd.Wait()
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.exited
		if strings.Contains(d.logText(), pintest.DefaultSecret) {
			t.Error("the secret appeared in the daemon's log")
		}
	})
	return d
}

// cli runs a pin-clientd command in this process with the daemon's environment.
func (d *realDaemon) cli(ctx context.Context, args ...string) (string, error) {
	env := map[string]string{}
	for _, kv := range d.env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	f := &fakeIO{env: env}
	err := dispatch(ctx, args, f.io())
	return f.stdout.String() + f.stderr.String(), err
}

// TestControlRealDaemon drives a real pin-clientd process through its control socket:
// status, watch, offline (running jobs finish, then the gateway sees the node leave),
// online, reload with a changed config (new node registered), logs; then SIGTERM.
func TestControlRealDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	dir := t.TempDir()
	gw := pintest.New(t, pintest.Options{})
	s := backendtest.Answer("a", "b", "c", "d", "e")
	s.TokenDelay = 100 * time.Millisecond
	be := backendtest.NewOllama(t, s)
	be.SetModels("llama3:8b")
	be2 := backendtest.NewOllama(t, backendtest.Answer("x"))
	be2.SetModels("qwen3:4b")
	cfg := filepath.Join(dir, "config.json")
	writeDaemonConfig(t, cfg, gw.URL(), [2]string{"gpu", be.URL})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := startDaemon(t, dir, cfg)
	if _, err := gw.WaitNodes(ctx, 1); err != nil {
		t.Fatal(err, d.logText())
	}

	// status: the live state first, then the static checks.
	out, err := d.cli(ctx, "status", "-c", cfg)
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, want := range []string{fmt.Sprintf("pin-clientd in a terminal (PID %d", d.cmd.Process.Pid), "link     online", "gpu: registered as", "ok   config"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "engine") > strings.Index(out, "config") {
		t.Errorf("the live state should come first:\n%s", out)
	}

	// watch: a subscription sees the job start and end.
	c := control.NewClient(d.sock, nil)
	watch := c.Subscribe(ctx)
	job, err := gw.Infer(ctx, protocol.InferencePayload{Model: "llama3:8b", Stream: true, Messages: json.RawMessage(`[{"role":"user","content":"hi"}]`)})
	if err != nil {
		t.Fatal(err)
	}
	for st := range watch {
		if st.InFlight == 1 {
			break
		}
	}
	if err := gw.Wait(ctx, func() bool { return len(job.Chunks()) > 0 }); err != nil {
		t.Fatal(err)
	}

	// offline with a job running: it finishes and delivers, then the link closes.
	out, err = d.cli(ctx, "offline", "--control-socket", d.sock)
	if err != nil {
		t.Fatalf("offline: %v\n%s", err, out)
	}
	if !strings.Contains(out, "1 running jobs finish first") || !strings.Contains(out, "Offline.") {
		t.Errorf("offline output:\n%s", out)
	}
	res, err := job.Wait(ctx)
	if err != nil || !res.OK() || job.Text(pintest.KindContent) != "abcde" {
		t.Fatalf("job running at offline: %+v %v %q", res, err, job.Text(pintest.KindContent))
	}
	left := time.Now()
	lctx, lcancel := context.WithTimeout(ctx, time.Second)
	err = gw.Wait(lctx, func() bool { return !gw.Connected() })
	lcancel()
	if err != nil {
		t.Fatalf("the gateway still sees the operator 1 s after `offline` returned: %v", err)
	}
	t.Logf("gateway saw the operator leave %v after `offline` returned", time.Since(left))
	if st := c.Status(); st.State != core.StateOffline {
		t.Errorf("state after offline: %v", st.State)
	}

	// online
	if out, err := d.cli(ctx, "online", "--control-socket", d.sock); err != nil || !strings.Contains(out, "Online: 1 of 1 nodes registered") {
		t.Fatalf("online: %v\n%s", err, out)
	}
	if err := gw.WaitSessions(ctx, 2); err != nil {
		t.Fatal(err)
	}

	// reload with a second node
	writeDaemonConfig(t, cfg, gw.URL(), [2]string{"gpu", be.URL}, [2]string{"gpu2", be2.URL})
	if out, err := d.cli(ctx, "reload"); err != nil || !strings.Contains(out, "Reloaded: 2 of 2 nodes registered (gpu, gpu2)") {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	if _, err := gw.WaitNodes(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, ok := gw.Node("gpu2"); !ok {
		t.Error("gpu2 not registered after reload")
	}

	// reconnect and logs
	if out, err := d.cli(ctx, "reconnect"); err != nil || !strings.Contains(out, "reconnect now") {
		t.Fatalf("reconnect: %v\n%s", err, out)
	}
	out, err = d.cli(ctx, "logs")
	if err != nil || !strings.Contains(out, "reloaded") || strings.Contains(out, pintest.DefaultSecret) {
		t.Fatalf("logs: %v\n%s", err, out)
	}

	// SIGTERM: exit 0; the socket goes with the process.
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-d.exited; err != nil {
		t.Fatalf("exit: %v\n%s", err, d.logText())
	}
	d.exited <- nil // for the cleanup
	if out, _ := d.cli(ctx, "status", "-c", cfg); !strings.Contains(out, "no engine running") || !strings.Contains(out, "ok   node     gpu") {
		t.Errorf("status after the engine stopped:\n%s", out)
	}
}

// TestControlVerbsWithoutEngine: every verb says no engine runs and exits 1; status
// still does its static checks.
func TestControlVerbsWithoutEngine(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "none.sock")
	for _, verb := range []string{"online", "offline", "reconnect", "reload", "logs"} {
		f := &fakeIO{env: map[string]string{}}
		err := dispatch(context.Background(), []string{verb, "--control-socket", sock}, f.io())
		if err == nil || !strings.Contains(err.Error(), "no engine running") || !strings.Contains(err.Error(), "pin-clientd service start") {
			t.Errorf("%s: %v", verb, err)
		}
	}
	f := &fakeIO{env: map[string]string{"PIN_API_SECRET": "s3cr3t-value-for-test"}}
	cfg := filepath.Join(dir, "config.json")
	writeDaemonConfig(t, cfg, "wss://gateway.invalid/ws", [2]string{"gpu", "http://127.0.0.1:1"})
	dispatch(context.Background(), []string{"status", "-c", cfg, "--control-socket", sock}, f.io())
	out := f.stdout.String()
	if !strings.Contains(out, "no engine running") || !strings.Contains(out, "config   "+cfg) {
		t.Errorf("status without an engine:\n%s", out)
	}
	if strings.Contains(out+f.stderr.String(), "s3cr3t-value-for-test") {
		t.Error("the secret was printed")
	}
}

// TestSecondDaemonRefused: a second engine for the same clientId refuses to start and
// names the first one.
func TestSecondDaemonRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	first, gw, ctx := startServingDaemon(t)
	dir, cfg := first.dir, first.cfg
	second := exec.CommandContext(ctx, daemonBinary(t), "-c", cfg)
	second.Env = daemonEnv(dir)
	out, err := second.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("second daemon: %v, want exit 1\n%s", err, out)
	}
	want := fmt.Sprintf("pin-clientd in a terminal (PID %d", first.cmd.Process.Pid)
	if !strings.Contains(string(out), want) {
		t.Errorf("second daemon's message lacks %q:\n%s", want, out)
	}
	if gw.Sessions() != 1 {
		t.Errorf("gateway sessions = %d, want 1", gw.Sessions())
	}
	// kill -9 leaves no stale lock: a new daemon starts.
	first.cmd.Process.Kill()
	<-first.exited
	first.exited <- nil
	third := startDaemon(t, dir, cfg)
	if err := gw.WaitSessions(ctx, 2); err != nil {
		t.Fatal(err, third.logText())
	}
}

// TestReloadFromCredentialSource: the sandboxed system service runs on a systemd
// credential (a copy of config.json taken at start, -c %d/config.json) and names its
// source in PIN_CONFIG_SOURCE. Status shows the source; reload reads the source when
// the sandbox allows, and otherwise says to restart the service.
func TestReloadFromCredentialSource(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	dir := t.TempDir()
	gw := pintest.New(t, pintest.Options{})
	be := backendtest.NewOllama(t, backendtest.Answer("a"))
	be.SetModels("llama3:8b")
	be2 := backendtest.NewOllama(t, backendtest.Answer("b"))
	be2.SetModels("qwen3:4b")
	source := filepath.Join(dir, "etc", "config.json")
	creds := filepath.Join(dir, "credentials")
	for _, d := range []string{filepath.Dir(source), creds} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeDaemonConfig(t, source, gw.URL(), [2]string{"gpu", be.URL})
	b, err := os.ReadFile(source)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(creds, "config.json")
	if err := os.WriteFile(copyPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := startDaemonEnv(t, dir, copyPath, []string{envConfigSource + "=" + source})
	if _, err := gw.WaitNodes(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if out, _ := d.cli(ctx, "status", "-c", copyPath); !strings.Contains(out, "config "+source) {
		t.Errorf("status should name the credential's source %s:\n%s", source, out)
	}
	writeDaemonConfig(t, source, gw.URL(), [2]string{"gpu", be.URL}, [2]string{"gpu2", be2.URL})
	if out, err := d.cli(ctx, "reload"); err != nil || !strings.Contains(out, "2 of 2 nodes registered") {
		t.Fatalf("reload from the source: %v\n%s", err, out)
	}
	if err := os.Remove(source); err != nil { // out of the sandbox's reach
		t.Fatal(err)
	}
	out, err := d.cli(ctx, "reload")
	if err == nil || !strings.Contains(err.Error(), "restart it instead") || !strings.Contains(err.Error(), "systemctl restart pin-clientd") {
		t.Fatalf("reload with the source out of reach: %v\n%s", err, out)
	}
}

func TestErrNoEngineHints(t *testing.T) {
	none := errNoEngine(fmt.Errorf("%w (tried /run/pin-clientd/engine.sock: not there)", control.ErrNoEngine))
	if !errors.Is(none, control.ErrNoEngine) || !strings.Contains(none.Error(), "pin-clientd service start") {
		t.Errorf("no engine: %v", none)
	}
	denied := errNoEngine(fmt.Errorf("%w (tried /run/pin-clientd/engine.sock: permission denied: dial unix: connect: permission denied)", control.ErrNoEngine))
	if !strings.Contains(denied.Error(), "sudo usermod -aG pin-client $USER") || strings.Contains(denied.Error(), "service start") {
		t.Errorf("permission denied: %v", denied)
	}
}
