package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/pin-client/pin-client/core/pintest"
)

// gatewayServer serves one pintest.Gateway on a fixed loopback address and can restart:
// the listener closes (new connections are refused), every connection and stream is
// cut, and after a pause a new listener takes the same address. The Gateway and its
// records survive restarts, as the real gateway's database does.
type gatewayServer struct {
	gw   *pintest.Gateway
	addr string

	mu      sync.Mutex // guards srv, done, windows
	srv     *http.Server
	done    chan struct{} // closed when srv.Serve returned
	windows []restartWindow
}

// restartWindow is the time a restart took, from the first cut to the new listener.
type restartWindow struct{ down, up time.Time }

func newGatewayServer(gw *pintest.Gateway) (*gatewayServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &gatewayServer{gw: gw, addr: ln.Addr().String()}
	gw.SetBaseURL("http://" + s.addr)
	s.serve(ln)
	return s, nil
}

func (s *gatewayServer) serve(ln net.Listener) {
	srv := &http.Server{Handler: s.gw, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("soak: gateway serve:", err)
		}
	}()
	s.mu.Lock()
	s.srv, s.done = srv, done
	s.mu.Unlock()
}

// restart takes the gateway down for down and brings it back on the same address. It
// returns when the new listener accepts connections.
func (s *gatewayServer) restart(ctx context.Context, down time.Duration) (restartWindow, error) {
	w := restartWindow{down: time.Now()}
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	s.gw.DropAll() // first, so the sessions are recorded as ended by the gateway
	_ = srv.Close()
	<-done
	s.gw.DropAll() // a WebSocket upgraded between the two
	select {
	case <-time.After(down):
	case <-ctx.Done():
	}
	var ln net.Listener
	var err error
	for range 50 { // the port is ours; a rebind fails only in a TIME_WAIT corner
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return w, fmt.Errorf("gateway restart: listen again on %s: %w", s.addr, err)
	}
	s.serve(ln)
	w.up = time.Now()
	s.mu.Lock()
	s.windows = append(s.windows, w)
	s.mu.Unlock()
	return w, nil
}

// inRestart reports whether t falls in a restart window (with a margin for the
// handlers that notice the cut connection late).
func (s *gatewayServer) inRestart(t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.windows {
		if !t.Before(w.down) && t.Before(w.up.Add(500*time.Millisecond)) {
			return true
		}
	}
	return false
}

// close stops serving for good and closes the gateway.
func (s *gatewayServer) close() {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	_ = srv.Close()
	<-done
	s.gw.Close()
}
