package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pin-client/pin-client/core"
)

const (
	statusTimeout  = 2 * time.Second  // Client.Status
	commandTimeout = 5 * time.Second  // GoOnline, GoOffline, ReconnectNow
	findTimeout    = time.Second      // each path Find tries
	streamIdle     = 45 * time.Second // a stream silent this long (3 keep-alives) is dead
	maxLine        = 8 << 20          // one NDJSON line (a status carries 200 log lines)
)

// Client talks to the engine behind one endpoint. It implements core.Controller, so a
// face drives a remote engine as it would an in-process one. Safe for concurrent use.
type Client struct {
	path string
	log  atomic.Pointer[slog.Logger]
	hc   *http.Client
	idle time.Duration // tests shorten it

	mu   sync.Mutex
	last core.Status // guarded by mu: the newest status seen, for Status() when unreachable
}

var _ core.Controller = (*Client)(nil)

// NewClient returns a client of the endpoint at path (a Unix socket or a Windows pipe).
// It does not connect until used. log receives the failures of the error-less
// core.Controller methods; nil → discard.
func NewClient(path string, log *slog.Logger) *Client {
	c := &Client{path: path, idle: streamIdle}
	c.SetLogger(log)
	c.hc = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx, path)
		},
		MaxIdleConns:       2,
		IdleConnTimeout:    30 * time.Second,
		DisableCompression: true,
	}} // no Timeout: streams last; each call bounds itself with its context
	return c
}

// SetLogger replaces the logger (nil → discard); Find's clients start without one.
func (c *Client) SetLogger(log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c.log.Store(log)
}

// Path is the endpoint this client talks to.
func (c *Client) Path() string { return c.path }

// Info asks the engine what it is.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var i Info
	err := c.getJSON(ctx, "info", maxLine, &i)
	return i, err
}

// Fetch returns the engine's description and its current status in one round trip.
func (c *Client) Fetch(ctx context.Context) (Info, core.Status, error) {
	var b statusBody
	if err := c.getJSON(ctx, "status", maxLine, &b); err != nil {
		return Info{}, core.Status{}, err
	}
	c.remember(b.Status)
	return b.Engine, b.Status, nil
}

// Status fetches the current status, waiting 2 s at most. When the engine does not
// answer it returns the last status it saw with State offline, no jobs in flight or
// queued, and LastError "engine not reachable: …".
func (c *Client) Status() core.Status {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	_, st, err := c.Fetch(ctx)
	if err == nil {
		return st
	}
	c.mu.Lock()
	st = c.last
	c.mu.Unlock()
	st.State = core.StateOffline
	st.LastError = "engine not reachable: " + err.Error()
	st.InFlight, st.Queued = 0, 0
	return st
}

// Subscribe streams status snapshots, coalesced (a slow reader sees the latest). The
// channel is closed when ctx ends or when the engine goes away (its process exited,
// its server stopped, or it could not be reached at all).
func (c *Client) Subscribe(ctx context.Context) <-chan core.Status {
	slot := make(chan core.Status, 1) // the newest unread snapshot; only the reader sends
	out := make(chan core.Status)
	go func() {
		defer close(slot)
		err := c.watch(ctx, func(st core.Status) bool {
			select { // replace an unread snapshot with the newer one
			case <-slot:
			default:
			}
			slot <- st
			return true
		})
		if err != nil && ctx.Err() == nil {
			c.logger().Debug("control watch ended", "endpoint", c.path, "err", err)
		}
	}()
	go func() {
		defer close(out)
		for st := range slot {
			select {
			case out <- st:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// watch calls fn with each snapshot of GET /v1/watch until fn returns false (nil), ctx
// ends (ctx.Err()) or the stream breaks (an error wrapping ErrEngineGone).
func (c *Client) watch(ctx context.Context, fn func(core.Status) bool) error {
	return c.stream(ctx, "watch", func(line []byte) (bool, error) {
		var st core.Status
		if err := json.Unmarshal(line, &st); err != nil {
			return false, fmt.Errorf("watch: decode a status: %w", err)
		}
		c.remember(st)
		return fn(st), nil
	})
}

// GoOnline asks the engine to connect; failures are logged.
func (c *Client) GoOnline() { c.fire("online", c.Online) }

// GoOffline asks the engine to drain and disconnect; it does not wait (see
// WaitOffline). Failures are logged.
func (c *Client) GoOffline() { c.fire("offline", c.Offline) }

// ReconnectNow asks the engine to skip its backoff wait; failures are logged.
func (c *Client) ReconnectNow() { c.fire("reconnect", c.Reconnect) }

func (c *Client) fire(name string, fn func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if err := fn(ctx); err != nil {
		c.logger().Warn("control request failed", "command", name, "endpoint", c.path, "err", err)
	}
}

// Online asks the engine to connect (a no-op when it is online or connecting).
func (c *Client) Online(ctx context.Context) error { return c.post(ctx, "online", http.StatusAccepted) }

// Offline asks the engine to stop taking jobs, finish running ones and disconnect. It
// returns once the engine has the request; WaitOffline waits for the drain.
func (c *Client) Offline(ctx context.Context) error {
	return c.post(ctx, "offline", http.StatusAccepted)
}

// Reconnect asks the engine to skip the current backoff wait.
func (c *Client) Reconnect(ctx context.Context) error {
	return c.post(ctx, "reconnect", http.StatusAccepted)
}

// Reload asks the engine to re-read its config file and reconnect with it. It blocks
// until the engine answers; an invalid config is a *StatusError whose message names
// the field.
func (c *Client) Reload(ctx context.Context) error { return c.post(ctx, "reload", http.StatusOK) }

// WaitOffline returns nil once the engine's state is offline, ctx.Err() when ctx ends
// first, an error wrapping ErrEngineGone when the engine goes away first, and the
// connection error when it cannot be reached at all.
func (c *Client) WaitOffline(ctx context.Context) error {
	offline := false
	err := c.watch(ctx, func(st core.Status) bool {
		offline = st.State == core.StateOffline
		return !offline
	})
	if offline {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("wait offline: %w", ErrEngineGone)
	}
	return err
}

// Logs calls fn with the engine's recent log lines, oldest first; with follow, then with
// each new line as it arrives, until ctx ends (nil) or the engine goes away (an error
// wrapping ErrEngineGone). Without follow it returns nil after the recent lines. An
// error from fn ends it and is returned.
func (c *Client) Logs(ctx context.Context, follow bool, fn func(core.LogLine) error) error {
	path := "logs"
	if follow {
		path = "logs?follow=1"
	}
	err := c.stream(ctx, path, func(line []byte) (bool, error) {
		var l core.LogLine
		if err := json.Unmarshal(line, &l); err != nil {
			return false, fmt.Errorf("logs: decode a line: %w", err)
		}
		if err := fn(l); err != nil {
			return false, err
		}
		return true, nil
	})
	if !follow && errors.Is(err, ErrEngineGone) && ctx.Err() == nil {
		return nil // the recent lines were all there was
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}

// Find returns a client for the first of paths whose engine answers GET /v1/info,
// trying them in order and waiting about 1 s for each; no paths → DefaultPaths().
// When none answers the error wraps ErrNoEngine and says what each path gave.
func Find(ctx context.Context, paths ...string) (*Client, Info, error) {
	if len(paths) == 0 {
		paths = DefaultPaths()
	}
	var tried []string
	for _, p := range paths {
		c := NewClient(p, nil)
		fctx, cancel := context.WithTimeout(ctx, findTimeout)
		info, err := c.Info(fctx)
		cancel()
		if err == nil {
			return c, info, nil
		}
		c.hc.CloseIdleConnections()
		if ctx.Err() != nil {
			return nil, Info{}, ctx.Err()
		}
		tried = append(tried, p+": "+reason(err))
	}
	return nil, Info{}, fmt.Errorf("%w (tried %s)", ErrNoEngine, strings.Join(tried, "; "))
}

// reason is err in a few words for Find's message.
func reason(err error) string {
	var se *StatusError
	switch {
	case errors.As(err, &se):
		return se.Message
	case isNotExist(err):
		return "not there"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied (only the engine's user, root and its group may connect)"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:] // the syscall's words, without the chain of wrappers
	}
	return s
}

// ---- plumbing ----

func (c *Client) logger() *slog.Logger { return c.log.Load() }

func (c *Client) remember(st core.Status) {
	c.mu.Lock()
	c.last = st
	c.mu.Unlock()
}

// do sends one request and returns the response when its status is want; any other
// status is a *StatusError carrying the server's message.
func (c *Client) do(ctx context.Context, method, path string, want int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+Host+"/"+APIVersion+"/"+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(VersionHeader, APIVersion)
	req.Header.Set("User-Agent", "pin-client-control/"+APIVersion)
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) { // *url.Error: drop the made-up URL from the message
			err = ue.Unwrap()
		}
		return nil, fmt.Errorf("connect to the engine at %s: %w", c.path, err)
	}
	if resp.StatusCode != want {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		var eb errorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("engine answered %s", resp.Status)
		}
		return nil, &StatusError{Code: resp.StatusCode, Message: eb.Error}
	}
	return resp, nil
}

// getJSON decodes the answer to GET path, read up to limit bytes, into v.
func (c *Client) getJSON(ctx context.Context, path string, limit int64, v any) error {
	resp, err := c.do(ctx, http.MethodGet, path, http.StatusOK)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, limit)).Decode(v); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("decode the engine's %s: %w", path, err)
	}
	return nil
}

func (c *Client) post(ctx context.Context, path string, want int) error {
	resp, err := c.do(ctx, http.MethodPost, path, want)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	return nil
}

// stream reads an NDJSON stream, skipping blank keep-alive lines, and calls fn with
// each line until fn returns false or an error, ctx ends (ctx.Err()), the stream is
// silent for c.idle, or it ends (an error wrapping ErrEngineGone).
func (c *Client) stream(ctx context.Context, path string, fn func(line []byte) (bool, error)) error {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	resp, err := c.do(sctx, http.MethodGet, path, http.StatusOK)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	errIdle := fmt.Errorf("%w: nothing heard for %s", ErrEngineGone, c.idle)
	idle := time.AfterFunc(c.idle, func() { cancel(errIdle) })
	defer idle.Stop()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := readLine(br)
		idle.Reset(c.idle)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if cause := context.Cause(sctx); cause != nil && cause != context.Canceled {
				return cause
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%s: %w", strings.SplitN(path, "?", 2)[0], ErrEngineGone)
			}
			return fmt.Errorf("%s: %w (%v)", strings.SplitN(path, "?", 2)[0], ErrEngineGone, err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue // keep-alive
		}
		more, err := fn(line)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// readLine reads one line of at most maxLine bytes, without its newline. A last line
// without a newline is returned with io.EOF only if empty.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > maxLine {
			return nil, fmt.Errorf("a line longer than %d bytes", maxLine)
		}
		buf = append(buf, frag...)
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return buf, nil
		default:
			return nil, err
		}
	}
}
