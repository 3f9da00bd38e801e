package main

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// delayProxy is a TCP proxy on 127.0.0.1 that delays every byte by oneWay in each
// direction, as an internet path between pin-clientd and the gateway would (RTT =
// 2 × oneWay). Each direction is a delay queue: what is read is stamped and written out
// when its time comes, in order; there is no bandwidth limit (reading never waits for
// the delay, so a window's worth of data is in flight as on a real path). TLS passes
// through untouched.
type delayProxy struct {
	ln     net.Listener
	target string
	oneWay time.Duration
	conns  atomic.Int64 // connections accepted

	mu   sync.Mutex
	open map[net.Conn]struct{} // guarded by mu: both ends of every proxied connection
	wg   sync.WaitGroup
}

// startProxy listens on 127.0.0.1:0 and forwards to target (host:port).
func startProxy(target string, oneWay time.Duration) (*delayProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &delayProxy{ln: ln, target: target, oneWay: oneWay, open: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *delayProxy) Addr() string { return p.ln.Addr().String() }

// close stops accepting, cuts every connection and waits for the pumps.
func (p *delayProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.open {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *delayProxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.open == nil {
			return false
		}
		p.open[c] = struct{}{}
	} else {
		delete(p.open, c)
	}
	return true
}

func (p *delayProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		out, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			in.Close()
			continue
		}
		p.track(in, true)
		p.track(out, true)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			var both sync.WaitGroup
			both.Add(2)
			go func() { defer both.Done(); p.pump(out, in) }()
			go func() { defer both.Done(); p.pump(in, out) }()
			both.Wait()
			in.Close()
			out.Close()
			p.track(in, false)
			p.track(out, false)
		}()
	}
}

// segment is bytes read at some time, to be written at due.
type segment struct {
	b   []byte
	due time.Time
}

// pump copies src to dst, each read written oneWay after it was read, in order. At
// src's EOF it half-closes dst once everything is written; on an error it closes both.
func (p *delayProxy) pump(dst, src net.Conn) {
	q := make(chan segment, 4096)
	go func() {
		defer close(q)
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				q <- segment{b: append([]byte(nil), buf[:n]...), due: time.Now().Add(p.oneWay)}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					dst.Close()
				}
				return
			}
		}
	}()
	var t *time.Timer
	for s := range q {
		if d := time.Until(s.due); d > 0 {
			if t == nil {
				t = time.NewTimer(d)
			} else {
				t.Reset(d)
			}
			<-t.C
		}
		if _, err := dst.Write(s.b); err != nil {
			src.Close()
			for range q { // let the reader end
			}
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
