package detect

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// TestScanFindsServersOnDefaultPorts puts fakes at the default ports (through the dial
// map, nothing is bound there), a listener that never answers at vLLM's port, a closed
// port at KoboldCpp's and a web app at TGI's, and checks what Scan reports, that the hung
// listener was given up on because the deadline passed, and that every probe carried the
// one deadline set when Scan started. The upper bound on that deadline is proven with a
// fake clock in TestScanDeadlineWithFakeClock.
func TestScanFindsServersOnDefaultPorts(t *testing.T) {
	ollama := fakeServer(t, ollamaRoutes(0), "")
	lms := fakeServer(t, lmStudioV0Routes(), "")
	llama := fakeServer(t, llamaCppRoutes(), "")
	jan := fakeServer(t, janRoutes(), "jan-key")
	webApp := fakeServer(t, route{"/": jsonRoute("<html></html>")}, "")
	m := dialMap{
		"127.0.0.1:11434": hostOf(ollama),
		"[::1]:11434":     hostOf(ollama), // the same Ollama on both loopback addresses
		"[::1]:1234":      hostOf(lms),    // LM Studio only on ::1
		"127.0.0.1:8080":  hostOf(llama),
		"127.0.0.1:1337":  hostOf(jan),
		"127.0.0.1:8000":  hungListener(t),
		"127.0.0.1:5001":  closedPort(t),
		"127.0.0.1:3000":  hostOf(webApp),
	}
	opts, rec := testOptions(t, m)
	const timeout = 400 * time.Millisecond
	opts.Timeout = timeout

	before := time.Now()
	got := Scan(context.Background(), opts)
	after := time.Now()

	type row struct {
		url  string
		kind Kind
		err  error
	}
	want := []row{
		{"http://127.0.0.1:11434", KindOllama, nil},
		{"http://127.0.0.1:8000", KindUnknown, ErrNoAnswer},
		{"http://127.0.0.1:8080", KindLlamaCpp, nil},
		{"http://127.0.0.1:1337", KindJan, ErrAuthRequired},
		{"http://[::1]:1234", KindLMStudio, nil},
	}
	if len(got) != len(want) {
		for _, s := range got {
			t.Logf("found %s %s %v", s.URL, s.Kind, s.Err)
		}
		t.Fatalf("found %d servers, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.URL != w.url || g.Kind != w.kind || !errors.Is(g.Err, w.err) || (w.err == nil) != (g.Err == nil) {
			t.Errorf("server %d: got %s %s %v, want %s %s %v", i, g.URL, g.Kind, g.Err, w.url, w.kind, w.err)
		}
	}
	// The hung listener ended because the scan deadline passed, not for another reason.
	if !errors.Is(got[1].Err, context.DeadlineExceeded) {
		t.Errorf("hung listener: %v, want it to wrap context.DeadlineExceeded", got[1].Err)
	}

	// Every probe carried the scan's single deadline, set when Scan started.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.missing != 0 {
		t.Errorf("%d probes had no deadline", rec.missing)
	}
	if len(rec.deadlines) == 0 {
		t.Fatal("no probes recorded")
	}
	first := rec.deadlines[0]
	for _, dl := range rec.deadlines {
		if !dl.Equal(first) {
			t.Fatalf("probes carried different deadlines: %v and %v", first, dl)
		}
	}
	if first.Before(before.Add(timeout)) || first.After(after.Add(timeout)) {
		t.Errorf("deadline %v not Timeout after the scan started (%v..%v)", first, before.Add(timeout), after.Add(timeout))
	}
}

func TestScanHonoursAnEarlierContextDeadline(t *testing.T) {
	m := dialMap{"127.0.0.1:11434": hungListener(t)}
	opts, rec := testOptions(t, m)
	opts.Timeout = time.Hour
	opts.NoDefaultPorts = true
	opts.Ports = []int{11434}
	opts.Hosts = []string{"127.0.0.1"}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	want, _ := ctx.Deadline()

	got := Scan(ctx, opts)
	if len(got) != 1 || !errors.Is(got[0].Err, ErrNoAnswer) {
		t.Fatalf("got %+v, want the hung listener with ErrNoAnswer", got)
	}
	for _, dl := range rec.deadlines {
		if !dl.Equal(want) {
			t.Fatalf("probe deadline %v, want the caller's %v", dl, want)
		}
	}
}

// pipeNet is an in-memory network for synctest: listeners by address, dials answered by
// net.Pipe, unknown addresses refused. Everything blocks on channels inside the bubble,
// so the fake clock advances only when all of it waits.
type pipeNet struct {
	mu sync.Mutex
	ls map[string]*pipeListener
}

type pipeListener struct {
	addr   string
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (n *pipeNet) listen(addr string) *pipeListener {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ls == nil {
		n.ls = map[string]*pipeListener{}
	}
	l := &pipeListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
	n.ls[addr] = l
	return l
}

func (n *pipeNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	n.mu.Lock()
	l := n.ls[addr]
	n.mu.Unlock()
	if l == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr(l.addr) }

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

// TestScanDeadlineWithFakeClock proves the default scan bound with a fake clock: every
// default port on both loopback addresses holds a listener that accepts and never
// answers, except one working Ollama, and Scan still returns exactly at DefaultTimeout,
// inside the 1.5 s the issue allows.
func TestScanDeadlineWithFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n pipeNet
		var hung []net.Conn
		var hmu sync.Mutex
		var wg sync.WaitGroup
		for _, host := range DefaultHosts {
			for _, port := range DefaultPorts {
				addr := (&net.TCPAddr{IP: net.ParseIP(host), Port: port}).String()
				if addr == "127.0.0.1:11434" {
					continue
				}
				l := n.listen(addr)
				wg.Go(func() {
					for {
						c, err := l.Accept()
						if err != nil {
							return
						}
						hmu.Lock()
						hung = append(hung, c) // never read, never answered
						hmu.Unlock()
					}
				})
			}
		}
		ol := n.listen("127.0.0.1:11434")
		srv := &http.Server{Handler: fakeHandler(ollamaRoutes(0))}
		wg.Go(func() { srv.Serve(ol) })

		start := time.Now()
		got := Scan(context.Background(), Options{DialContext: n.dial, Getenv: func(string) string { return "" }})
		elapsed := time.Since(start)

		if elapsed != DefaultTimeout {
			t.Errorf("Scan took %v of fake time, want exactly DefaultTimeout %v", elapsed, DefaultTimeout)
		}
		if elapsed > 1500*time.Millisecond {
			t.Errorf("Scan took %v, over the 1.5 s bound", elapsed)
		}
		if len(got) != len(DefaultPorts) {
			t.Errorf("found %d servers, want %d (Ollama plus one hung listener per other port, loopback deduplicated)", len(got), len(DefaultPorts))
		}
		if len(got) > 0 && (got[0].Kind != KindOllama || got[0].Err != nil || len(got[0].Models) != 3) {
			t.Errorf("first server: %+v", got[0])
		}
		for _, s := range got[1:] {
			if !errors.Is(s.Err, ErrNoAnswer) {
				t.Errorf("%s: %v, want ErrNoAnswer", s.URL, s.Err)
			}
		}

		srv.Close()
		n.mu.Lock()
		for _, l := range n.ls {
			l.Close()
		}
		n.mu.Unlock()
		hmu.Lock()
		for _, c := range hung {
			c.Close()
		}
		hmu.Unlock()
		wg.Wait()
	})
}

// fakeHandler serves routes the way fakeServer does, without a listener.
func fakeHandler(routes route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := routes[r.Method+" "+r.URL.Path]
		if !ok {
			h, ok = routes[r.URL.Path]
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	})
}

func TestWriteTable(t *testing.T) {
	servers := []Server{
		{URL: "http://127.0.0.1:11434", Kind: KindOllama, APIMode: "ollama", Version: "0.12.6", Parallel: 1, Models: []Model{
			{Name: "llama3.2:3b", Loaded: Yes, ContextLength: 8192, MaxContextLength: 131072, Tools: Yes, Reasoning: ReasoningNone, OnCPU: true, Size: 3, VRAM: 0},
			{Name: "qwen3:8b", Loaded: No, ContextLength: 40960, MaxContextLength: 40960, Tools: Yes, Reasoning: ReasoningThinking},
			{Name: "big:70b", Loaded: Yes, Size: 40, VRAM: 30},
		}},
		{URL: "http://127.0.0.1:8000", Kind: KindUnknown, Parallel: 1, Err: errors.New("http://127.0.0.1:8000 accepted the connection but did not answer within 1.2s (still starting or loading a model, or hung)")},
		{URL: "http://127.0.0.1:1234", Kind: KindLMStudio, APIMode: "openai", Parallel: 1, Err: errors.New("LM Studio at http://127.0.0.1:1234 requires an API token")},
	}
	var b strings.Builder
	if err := WriteTable(&b, servers); err != nil {
		t.Fatal(err)
	}
	want := `Ollama 0.12.6 at http://127.0.0.1:11434  apiMode "ollama"  parallel 1
  MODEL        LOADED  CONTEXT      TOOLS  REASONING  NOTE
  llama3.2:3b  yes     8192/131072  yes    none       on CPU
  qwen3:8b     no      40960        yes    thinking
  big:70b      yes     ?            ?      ?          75% on GPU

http://127.0.0.1:8000 accepted the connection but did not answer within 1.2s (still starting or loading a model, or hung)

LM Studio at http://127.0.0.1:1234  apiMode "openai"  parallel 1
  problem: LM Studio at http://127.0.0.1:1234 requires an API token
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestProbesPerServerAreLimited: no more than perServer requests are in flight to one
// server at a time, so a small listen backlog (llama.cpp, KoboldCpp) never overflows.
func TestProbesPerServerAreLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n pipeNet
		l := n.listen("127.0.0.1:11434")
		var mu sync.Mutex
		inflight, most := 0, 0
		h := fakeHandler(ollamaRoutes(0))
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inflight++
			most = max(most, inflight)
			mu.Unlock()
			time.Sleep(10 * time.Millisecond) // fake time: lets every waiting probe pile up
			h.ServeHTTP(w, r)
			mu.Lock()
			inflight--
			mu.Unlock()
		})}
		var wg sync.WaitGroup
		wg.Go(func() { srv.Serve(l) })

		s, err := Probe(context.Background(), "http://127.0.0.1:11434", Options{DialContext: n.dial, Getenv: func(string) string { return "" }})
		if err != nil || s.Kind != KindOllama || len(s.Models) != 3 {
			t.Fatalf("Probe: %+v %v", s, err)
		}
		if most != perServer {
			t.Errorf("at most %d requests were in flight, want exactly perServer=%d", most, perServer)
		}
		srv.Close()
		wg.Wait()
	})
}
