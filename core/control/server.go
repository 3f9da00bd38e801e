package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/pin-client/pin-client/core"
)

const (
	maxBody         = 64 << 10         // request bodies and headers
	keepAliveEvery  = 15 * time.Second // blank line on an idle stream
	streamWriteWait = 30 * time.Second // a stream reader that takes longer is dropped
	shutdownWait    = 5 * time.Second  // Serve's graceful stop before closing connections
)

// ServerOptions configures a Server.
type ServerOptions struct {
	Engine Engine       // required; nil → every endpoint but /v1/info answers 503
	Info   func() Info  // describes this process; nil → only the PID is known
	Logger *slog.Logger // nil → discard
	// Policy says who may connect (Linux, macOS); the zero Policy means DefaultPolicy().
	Policy Policy
}

// Server serves the control API of one engine. Create with NewServer; serve with Serve.
type Server struct {
	eng       Engine
	info      func() Info
	log       *slog.Logger
	policy    Policy
	keepAlive time.Duration                     // tests shorten it
	peerCred  func(net.Conn) (*PeerCred, error) // tests inject other peers
	groups    func(pid int) ([]int, error)      // supplementary groups of a peer
	routes    map[string]route                  // by path
	handler   http.Handler
}

type route struct {
	method string
	fn     func(w http.ResponseWriter, r *http.Request)
}

// NewServer builds a server. It does not listen; see Listen and Serve.
func NewServer(o ServerOptions) *Server {
	s := &Server{
		eng: o.Engine, info: o.Info, log: o.Logger, policy: o.Policy,
		keepAlive: keepAliveEvery, peerCred: peerCred, groups: procGroups,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.policy == (Policy{}) {
		s.policy = DefaultPolicy()
	}
	if s.info == nil {
		pid := os.Getpid()
		s.info = func() Info { return Info{PID: pid} }
	}
	p := "/" + APIVersion + "/"
	s.routes = map[string]route{
		p + "info":      {http.MethodGet, s.serveInfo},
		p + "status":    {http.MethodGet, s.serveStatus},
		p + "watch":     {http.MethodGet, s.serveWatch},
		p + "logs":      {http.MethodGet, s.serveLogs},
		p + "online":    {http.MethodPost, s.command("online", func(e Engine) { e.GoOnline() })},
		p + "offline":   {http.MethodPost, s.command("offline", func(e Engine) { e.GoOffline() })},
		p + "reconnect": {http.MethodPost, s.command("reconnect", func(e Engine) { e.ReconnectNow() })},
		p + "reload":    {http.MethodPost, s.serveReload},
	}
	s.addPauseRoutes(p)
	s.ledgerRoutes(p)
	s.handler = http.HandlerFunc(s.serveHTTP)
	return s
}

// Handler is the API as an http.Handler. It checks Host, Origin and the version header
// but not the peer: Serve does that with the connection's credentials, and a request
// without them (served by another http.Server) is not checked.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves ln until ctx ends; then it closes ln, ends the watch and log streams,
// lets other requests finish (a few seconds at most) and returns nil. Requests see
// ctx's end through their own contexts (a reload in progress is cancelled). It returns an
// error only when ln fails before that.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext:       s.connContext,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxBody,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if ctx.Err() == nil {
			return fmt.Errorf("control: serve %s: %w", ln.Addr(), err)
		}
		return nil
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

// ---- peers ----

type peerKey struct{}

// peer is the verdict on one connection, decided once when it is accepted.
type peer struct {
	cred    *PeerCred // nil: the OS does not report one (Windows: the pipe's DACL decides)
	refused error     // nil: allowed
	logged  sync.Once // the refusal is logged once per connection
}

func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	p := &peer{}
	cred, err := s.peerCred(c)
	switch {
	case err != nil:
		p.refused = err
	case cred != nil:
		p.cred = cred
		p.refused = s.policy.check(*cred, s.groups)
	}
	return context.WithValue(ctx, peerKey{}, p)
}

// ---- requests ----

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if p, _ := r.Context().Value(peerKey{}).(*peer); p != nil && p.refused != nil {
		p.logged.Do(func() {
			uid, pid := -1, 0
			if p.cred != nil {
				uid, pid = p.cred.UID, p.cred.PID
			}
			s.log.Warn("control API: refused a peer", "uid", uid, "pid", pid, "reason", p.refused.Error())
		})
		writeError(w, http.StatusForbidden, "permission denied: "+p.refused.Error())
		return
	}
	if r.Header.Get("Origin") != "" {
		writeError(w, http.StatusForbidden, "requests from web pages (with an Origin header) are refused")
		return
	}
	if h := hostOnly(r.Host); h != Host && h != "localhost" {
		writeError(w, http.StatusForbidden, fmt.Sprintf("host %q refused; send Host: %s", clip(r.Host), Host))
		return
	}
	if v := r.Header.Get(VersionHeader); v != APIVersion {
		if v == "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("missing %s header; send %s: %s", VersionHeader, VersionHeader, APIVersion))
		} else {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("control API version %q is not served; this engine speaks %s", clip(v), APIVersion))
		}
		return
	}
	rt, ok := s.routes[r.URL.Path]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s; see docs/control-api.md", clip(r.URL.Path)))
		return
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s wants %s, not %s", r.URL.Path, rt.method, clip(r.Method)))
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		b, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b)) // read whole here; handlers that take a body (pause) decode it
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d KiB", maxBody>>10))
			} else {
				writeError(w, http.StatusBadRequest, "read request body: "+err.Error())
			}
			return
		}
	}
	if s.eng == nil && r.URL.Path != "/"+APIVersion+"/info" {
		writeError(w, http.StatusServiceUnavailable, "no engine behind this endpoint")
		return
	}
	rt.fn(w, r)
}

func (s *Server) serveInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.info())
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, statusBody{Engine: s.info(), Status: s.eng.Status()})
}

func (s *Server) command(name string, do func(Engine)) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		s.log.Info("control API request", "command", name)
		do(s.eng)
		writeJSON(w, http.StatusAccepted, okBody{OK: true})
	}
}

func (s *Server) serveReload(w http.ResponseWriter, r *http.Request) {
	s.log.Info("control API request", "command", "reload")
	if err := s.eng.Reload(r.Context()); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, okBody{OK: true})
}

// serveWatch streams status snapshots, one JSON object a line: the current one at
// once, then each change (coalesced by the engine's Subscribe). A blank line is sent
// when nothing else was for keepAlive. It ends when the client leaves or Serve stops.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	first := s.eng.Status() // before subscribing: nothing older than it follows
	ch := s.eng.Subscribe(ctx)
	st := newStream(w, s.keepAlive)
	defer st.stop()
	if !st.send(first) {
		return
	}
	dedup := true // the subscription's first value is usually first itself
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.tick():
			if !st.blank() {
				return
			}
		case v, ok := <-ch:
			if !ok {
				return
			}
			if dedup {
				dedup = false
				if reflect.DeepEqual(v, first) {
					continue
				}
			}
			if !st.send(v) {
				return
			}
		}
	}
}

// serveLogs streams the recent log lines, oldest first, one JSON object a line; with
// follow=1 it then sends each new line as it appears in the status snapshots.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	follow := false
	switch f := r.URL.Query().Get("follow"); f {
	case "", "0", "false":
	case "1", "true":
		follow = true
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("follow=%q: want 1 or 0", clip(f)))
		return
	}
	var ch <-chan core.Status
	if follow {
		ch = s.eng.Subscribe(ctx)
	}
	st := newStream(w, s.keepAlive)
	defer st.stop()
	var t logTail
	for _, l := range t.next(s.eng.Status().Log) {
		if !st.send(l) {
			return
		}
	}
	if !follow {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.tick():
			if !st.blank() {
				return
			}
		case v, ok := <-ch:
			if !ok {
				return
			}
			for _, l := range t.next(v.Log) {
				if !st.send(l) {
					return
				}
			}
		}
	}
}

// logTail finds the lines of a log snapshot not yet sent. Lines are known by time and
// message; the log is a bounded ring, oldest first.
type logTail struct {
	last    core.LogLine // the newest line sent
	started bool         // last is set
}

// next returns the lines of log after the newest line sent, and remembers the new newest.
func (t *logTail) next(log []core.LogLine) []core.LogLine {
	if len(log) == 0 {
		return nil
	}
	var out []core.LogLine
	if !t.started {
		out = log
	} else {
		i := len(log) - 1
		for ; i >= 0; i-- {
			if sameLine(log[i], t.last) {
				break
			}
		}
		switch {
		case i >= 0:
			out = log[i+1:]
		case log[len(log)-1].Time.Before(t.last.Time):
			return nil // an older snapshot than one already sent
		default:
			out = log // the ring moved past the last line sent: all of it is new
		}
	}
	if len(out) > 0 {
		t.last, t.started = out[len(out)-1], true
	}
	return out
}

func sameLine(a, b core.LogLine) bool { return a.Time.Equal(b.Time) && a.Message == b.Message }

// stream writes NDJSON to a response, flushing each line; a write that blocks longer
// than streamWriteWait ends it.
type stream struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	ticker *time.Ticker
}

func newStream(w http.ResponseWriter, keepAlive time.Duration) *stream {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	st := &stream{w: w, rc: http.NewResponseController(w), ticker: time.NewTicker(keepAlive)}
	st.flush()
	return st
}

// stop ends the keep-alives and clears the write deadline: http.Server does not reset
// it (WriteTimeout is 0), and the connection may serve the client's next request.
func (st *stream) stop() {
	st.ticker.Stop()
	_ = st.rc.SetWriteDeadline(time.Time{})
}

func (st *stream) tick() <-chan time.Time { return st.ticker.C }

func (st *stream) send(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return st.write([]byte(`{"error":` + quote("encode: "+err.Error()) + "}\n"))
	}
	return st.write(append(b, '\n'))
}

// blank writes the keep-alive line.
func (st *stream) blank() bool { return st.write([]byte("\n")) }

func (st *stream) write(b []byte) bool {
	_ = st.rc.SetWriteDeadline(time.Now().Add(streamWriteWait)) // not every writer supports it
	if _, err := st.w.Write(b); err != nil {
		return false
	}
	return st.flush()
}

func (st *stream) flush() bool { return st.rc.Flush() == nil }

// ---- helpers ----

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode the answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// writeError answers {"error": msg} with msg on one line.
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write([]byte(`{"error":` + quote(oneLine(msg)) + "}\n"))
}

func quote(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// clip bounds a client-supplied string echoed in an error.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// hostOnly is the Host header without a port, lower case.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(h)
}
