package control

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pin-client/pin-client/core"
)

// fakeEngine is an Engine whose status the test publishes and whose commands it records.
// Its snapshots go through core.StatusBus, the engine's own coalescing bus.
type fakeEngine struct {
	bus    core.StatusBus
	live   atomic.Int32                // subscriptions not yet ended
	calls  chan string                 // "online", "offline", "reconnect", "reload"
	reload func(context.Context) error // nil → ok
}

func newFake() *fakeEngine {
	f := &fakeEngine{calls: make(chan string, 64)}
	f.bus.Publish(core.Status{})
	return f
}

func (f *fakeEngine) Status() core.Status { return f.bus.Load() }

func (f *fakeEngine) publish(st core.Status) { f.bus.Publish(st) }

// Subscribe behaves like core.Engine's (it is the same bus) and counts itself live until
// its channel is closed.
func (f *fakeEngine) Subscribe(ctx context.Context) <-chan core.Status {
	f.live.Add(1)
	in := f.bus.Subscribe(ctx)
	out := make(chan core.Status)
	go func() {
		defer f.live.Add(-1)
		defer close(out)
		for s := range in {
			select {
			case out <- s:
			case <-ctx.Done():
			}
		}
	}()
	return out
}

func (f *fakeEngine) subscribers() int { return int(f.live.Load()) }

// call records a command; past 64 unread ones (a fuzzer) they are dropped.
func (f *fakeEngine) call(name string) {
	select {
	case f.calls <- name:
	default:
	}
}

func (f *fakeEngine) GoOnline()     { f.call("online") }
func (f *fakeEngine) GoOffline()    { f.call("offline") }
func (f *fakeEngine) ReconnectNow() { f.call("reconnect") }
func (f *fakeEngine) Pause(until time.Time) {
	if until.IsZero() {
		f.call("pause")
		return
	}
	f.call("pause until " + until.UTC().Format(time.RFC3339))
}
func (f *fakeEngine) Resume() { f.call("resume") }
func (f *fakeEngine) Reload(ctx context.Context) error {
	f.call("reload")
	if f.reload != nil {
		return f.reload(ctx)
	}
	return nil
}

// logBuf is a slog destination the test can read while the server writes.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the log lines containing every one of words.
func (l *logBuf) lines(words ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, w := range words {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// harness is a Server serving a socket in t.TempDir() and a Client of it.
type harness struct {
	path string
	srv  *Server
	c    *Client
	logs *logBuf
	stop func() // stops Serve and waits for it; idempotent
}

func testInfo(path string) Info {
	return Info{Kind: KindDaemon, Scope: ScopeUser, PID: os.Getpid(), Started: time.Date(2026, 12, 6, 19, 0, 0, 0, time.UTC),
		Version: "3.1.0-test", ClientID: "op-1", ConfigPath: "/etc/pin/config.json", Socket: path}
}

// serve starts a server for eng; mod may adjust it before it serves.
func serve(t *testing.T, eng Engine, mod func(*Server)) *harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "engine.sock")
	ln, err := Listen(path, ListenOptions{Group: -1})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	srv := NewServer(ServerOptions{
		Engine: eng,
		Info:   func() Info { return testInfo(path) },
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Policy: DefaultPolicy(),
	})
	if mod != nil {
		mod(srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve = %v, want nil after its context ends", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Serve did not return 10 s after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return &harness{path: path, srv: srv, c: NewClient(path, slog.New(slog.NewTextHandler(logs, nil))), logs: logs, stop: stop}
}

// recv waits up to 10 s for a value of ch; ok is false when ch was closed.
func recv[T any](t *testing.T, ch <-chan T) (v T, ok bool) {
	t.Helper()
	select {
	case v, ok = <-ch:
		return v, ok
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received within 10 s")
		return v, false
	}
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawClient is an http.Client of the socket that sends requests exactly as built.
func rawClient(t *testing.T, path string) *http.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

var errBadConfig = errors.New(`nodes[0].apiMode: "olama" is not a known API mode; use "ollama" or "openai"`)
