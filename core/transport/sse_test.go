package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pin-client/pin-client/core/protocol"
)

// sseGateway is a minimal SSE gateway: the downlink stays open with nothing on it, chunk
// POSTs block until release is closed, results and heartbeats answer at once. It
// records the HTTP version of every POST and counts TCP connections.
type sseGateway struct {
	srv     *httptest.Server
	release chan struct{}
	conns   atomic.Int64

	mu      sync.Mutex
	protos  map[string]int // guarded by mu: "path HTTP/x" → count
	results chan string    // request bodies of /stream/result
	chunkIn chan struct{}  // one per chunk POST that reached its handler
}

func newSSEGateway(t *testing.T, tlsH2 bool) *sseGateway {
	g := &sseGateway{release: make(chan struct{}), protos: map[string]int{}, results: make(chan string, 100),
		chunkIn: make(chan struct{}, 100)}
	done := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.protos[r.URL.Path+" "+r.Proto]++
		g.mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/stream/connect"):
			w.Header().Set("X-PIN-Stream-Token", "tok_test_123456")
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-done:
			}
		case strings.HasSuffix(r.URL.Path, "/stream/chunk"):
			io.Copy(io.Discard, r.Body)
			g.chunkIn <- struct{}{}
			select {
			case <-g.release:
			case <-r.Context().Done():
			case <-done:
			}
		case strings.HasSuffix(r.URL.Path, "/stream/result"):
			b, _ := io.ReadAll(r.Body)
			g.results <- string(b)
		default:
			io.Copy(io.Discard, r.Body)
		}
	})
	g.srv = httptest.NewUnstartedServer(h)
	g.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			g.conns.Add(1)
		}
	}
	if tlsH2 {
		g.srv.EnableHTTP2 = true
		g.srv.StartTLS()
	} else {
		g.srv.Start()
	}
	t.Cleanup(func() { close(done); g.srv.Close() })
	return g
}

func (g *sseGateway) count(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.protos[key]
}

func dialTestSSE(t *testing.T, g *sseGateway, hc *http.Client) Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := DialSSE(ctx, Options{ServerURL: g.srv.URL + "/api/v1/pin", ClientID: "op", Secret: protocol.NewSecret("s"),
		HTTPClient: hc, UplinkPosts: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Heartbeats have their own path: with uplink POSTs stuck at the gateway (7 of the 8
// allowed), a heartbeat and a registration still go through at once, and so does
// another request's result.
func TestSSEHeartbeatNotBehindStuckUplink(t *testing.T) {
	g := newSSEGateway(t, false)
	c := dialTestSSE(t, g, nil)
	for i := range 7 {
		if err := c.Send(chunk(string(rune('a'+i)), "content", "x", 0)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range 7 { // all 7 are in flight at once
		select {
		case <-g.chunkIn:
		case <-ctx.Done():
			t.Fatalf("only %d of 7 chunk POSTs reached the gateway together", i)
		}
	}
	if err := c.Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat behind 7 stuck chunk POSTs: %v", err)
	}
	if err := c.Register(ctx, protocol.RegisterNode{Alias: "n"}); err != nil {
		t.Fatalf("register behind 7 stuck chunk POSTs: %v", err)
	}
	if err := c.Send(&protocol.InferenceError{RequestID: "z", Error: "x"}); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-g.results:
		if !strings.Contains(b, `"request_id":"z"`) {
			t.Fatalf("result body %s", b)
		}
	case <-ctx.Done():
		t.Fatal("another request's result waited behind the stuck chunk POSTs")
	}
	close(g.release)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// Over TLS the uplink uses HTTP/2 when the gateway offers it: every POST and the
// downlink share one connection.
func TestSSEUsesHTTP2WhenOffered(t *testing.T) {
	g := newSSEGateway(t, true)
	close(g.release)
	pool := x509.NewCertPool()
	pool.AddCert(g.srv.Certificate())
	tr := newHTTPTransport(8)
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	c := dialTestSSE(t, g, &http.Client{Transport: tr})
	for i := range 20 {
		c.Send(chunk(string(rune('a'+i%5)), "content", "x", i))
	}
	for i := range 5 {
		c.Send(result(string(rune('a' + i))))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if n := g.count("/api/v1/pin/stream/result HTTP/2.0"); n != 5 {
		t.Fatalf("%d results over HTTP/2; want 5 (protos %v)", n, g.protos)
	}
	if n := g.count("/api/v1/pin/stream/connect HTTP/2.0"); n != 1 {
		t.Fatalf("downlink not over HTTP/2 (protos %v)", g.protos)
	}
	if n := g.conns.Load(); n != 1 {
		t.Fatalf("%d TCP connections; want 1 with HTTP/2", n)
	}
}

// BenchmarkSSEChunkPost is one chunk through Send to the gateway's handler and back
// (HTTP/1.1 on loopback): the per-token cost of the SSE uplink at 50 tok/s, where every
// token is a POST of its own.
func BenchmarkSSEChunkPost(b *testing.B) {
	got := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/stream/connect"):
			w.Header().Set("X-PIN-Stream-Token", "tok_bench_123456")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			io.Copy(io.Discard, r.Body)
			w.Write([]byte(`{"ok":true}`))
			got <- struct{}{}
		}
	}))
	defer srv.Close()
	c, err := DialSSE(context.Background(), Options{ServerURL: srv.URL + "/api/v1/pin", ClientID: "op", Secret: protocol.NewSecret("s")})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Send(chunk("r", "content", "tok ", i))
		<-got
	}
}
