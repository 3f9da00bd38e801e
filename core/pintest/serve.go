package pintest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Listen starts a gateway on addr ("127.0.0.1:0" picks a port) for development use, e.g.
// a `pin-clientd gateway` command. Only loopback addresses are accepted: the gateway
// serves any consumer and hands out jobs to whoever holds the test credentials. Records
// are bounded (MaxFrames defaults to 10000). Stop it with Close.
func Listen(addr string, opts Options) (*Gateway, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("pintest: listen address %q: %w (want host:port, e.g. 127.0.0.1:8787)", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("pintest: refusing to listen on %q: the local gateway is for loopback only, use 127.0.0.1", addr)
	}
	if opts.MaxFrames == 0 {
		opts.MaxFrames = 10000
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pintest: listen: %w", err)
	}
	g := NewGateway(opts)
	g.SetBaseURL("http://" + ln.Addr().String())
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("pintest: serve failed", "err", err)
		}
	}()
	g.stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx) // sessions are already closed; streams end promptly
		_ = srv.Close()
		<-done
	}
	return g, nil
}

// Serve runs a gateway on addr until ctx ends. ready, if not nil, is called once it
// listens (print g.URL(), g.HTTPURL()+"/v1" and the credentials there).
func Serve(ctx context.Context, addr string, opts Options, ready func(g *Gateway)) error {
	g, err := Listen(addr, opts)
	if err != nil {
		return err
	}
	defer g.Close()
	if ready != nil {
		ready(g)
	}
	<-ctx.Done()
	return nil
}
