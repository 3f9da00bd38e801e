package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pin-client/pin-client/core"
)

// fullStatus sets every field of core.Status (TestStatusRoundTrip checks that it does).
func fullStatus() core.Status {
	at := func(s int) time.Time { return time.Date(2026, 12, 6, 19, 30, s, 123456789, time.UTC) }
	return core.Status{
		State: core.StateDraining, Since: at(1), RetryAt: at(2), Transport: "ws",
		Gateway: "wss://gw.example/api/v1/pin/ws", LastError: "link lost: EOF", SecretSource: "keyring",
		Nodes: []core.NodeStatus{{
			Alias: "gpu-1", ServerID: "srv-9", BackendURL: "http://127.0.0.1:11434", APIMode: "ollama",
			Region: "eu-west", Capacity: 2, Price: 0.002, Models: []string{"llama3:8b", "qwen2:7b"},
			BackendOK: true, BackendError: "none really", Degraded: "qwen2:7b runs on CPU",
			Tier: "verified", Accuracy: 0.97, TokensPerSec: 41.5, InterviewAt: at(3), InterviewNote: "passed",
			InFlight: 1, Served: 10, Failed: 2, PromptTokens: 300, CompletionTokens: 700, Earnings: 0.0021,
		}, {Alias: "cpu-2", APIMode: "openai"}},
		InFlight: 1, Queued: 3, Served: 10, Failed: 2, Rejected: 1, Tokens: 1000, Earnings: 0.0021,
		Paused: true, PauseReason: "outside your serving hours", PausedUntil: at(6),
		Log: []core.LogLine{
			{Time: at(4), Level: slog.LevelWarn, Message: "[NODE] gateway link lost; reconnecting err=EOF"},
			{Time: at(5), Level: slog.LevelInfo, Message: `quotes " and \ and ünïcode`},
		},
	}
}

// nonZero fails for each zero field of v, recursing into structs and the first
// element of slices, so a field added to core.Status must be added to fullStatus.
func nonZero(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			if v.Interface().(time.Time).IsZero() {
				t.Errorf("%s is zero", path)
			}
			return
		}
		for i := range v.NumField() {
			nonZero(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Slice:
		if v.Len() == 0 {
			t.Errorf("%s is empty", path)
			return
		}
		nonZero(t, v.Index(0), path+"[0]")
	default:
		if v.IsZero() {
			t.Errorf("%s is zero", path)
		}
	}
}

func TestStatusRoundTrip(t *testing.T) {
	want := fullStatus()
	nonZero(t, reflect.ValueOf(want), "Status")
	f := newFake()
	f.publish(want)
	h := serve(t, f, nil)

	info, got, err := h.c.Fetch(ctx10(t))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("status changed on the wire:\n got %+v\nwant %+v", got, want)
	}
	if wantInfo := testInfo(h.path); info != wantInfo {
		t.Errorf("info = %+v, want %+v", info, wantInfo)
	}
	nonZero(t, reflect.ValueOf(info), "Info")
	if got := h.c.Status(); !reflect.DeepEqual(got, want) {
		t.Errorf("Status() = %+v, want %+v", got, want)
	}
	if i, err := h.c.Info(ctx10(t)); err != nil || i != info {
		t.Errorf("Info = %+v, %v", i, err)
	}

	// The wire form: camelCase Info, the state as a word.
	resp, err := rawGet(t, h.path, "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]map[string]any
	if err := json.Unmarshal(resp, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["status"]["State"] != "draining" || raw["engine"]["clientId"] != "op-1" || raw["engine"]["kind"] != "daemon" {
		t.Errorf("wire form: %s", resp)
	}
}

func rawGet(t *testing.T, path, url string) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx10(t), "GET", "http://pin-client"+url, nil)
	req.Header.Set(VersionHeader, APIVersion)
	resp, err := rawClient(t, path).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, errors.New(resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// An unreachable engine reads as offline, with the last status seen and why.
func TestStatusUnreachable(t *testing.T) {
	f := newFake()
	st := fullStatus()
	st.State = core.StateOnline
	f.publish(st)
	h := serve(t, f, nil)
	if got := h.c.Status(); got.State != core.StateOnline {
		t.Fatalf("state %v, want online", got.State)
	}
	h.stop()
	got := h.c.Status()
	if got.State != core.StateOffline || !strings.HasPrefix(got.LastError, "engine not reachable: ") {
		t.Errorf("after the engine left: state %v, LastError %q", got.State, got.LastError)
	}
	if got.Served != st.Served || len(got.Nodes) != len(st.Nodes) {
		t.Errorf("the last status seen was not kept: %+v", got)
	}
	if _, _, err := h.c.Fetch(ctx10(t)); err == nil || !strings.Contains(err.Error(), h.path) {
		t.Errorf("Fetch error %v does not name the endpoint", err)
	}
}

func TestWatchCoalescesAndEndsWithServer(t *testing.T) {
	f := newFake()
	f.publish(core.Status{State: core.StateConnecting})
	h := serve(t, f, nil)
	ctx := ctx10(t)
	ch := h.c.Subscribe(ctx)
	if st, ok := recv(t, ch); !ok || st.State != core.StateConnecting {
		t.Fatalf("first snapshot %v %v, want the current one (connecting)", st.State, ok)
	}
	const n = 500
	for i := 1; i <= n; i++ { // the reader is not reading: updates must coalesce
		f.publish(core.Status{State: core.StateOnline, Served: uint64(i)})
	}
	got := 0
	for {
		st, ok := recv(t, ch)
		if !ok {
			t.Fatal("channel closed before the last update")
		}
		got++
		if st.Served == n {
			break
		}
	}
	if got >= n/2 {
		t.Errorf("received %d of %d updates; a slow reader should see the latest, not a backlog", got, n)
	}
	h.stop()
	for {
		if _, ok := recv(t, ch); !ok {
			break // closed when the server stopped
		}
	}
}

func TestSubscribeClosesWithoutEngine(t *testing.T) {
	c := NewClient(t.TempDir()+"/none.sock", nil)
	if _, ok := recv(t, c.Subscribe(ctx10(t))); ok {
		t.Fatal("a snapshot from no engine")
	}
}

func TestSubscribeEndsWithContext(t *testing.T) {
	f := newFake()
	h := serve(t, f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	ch := h.c.Subscribe(ctx)
	recv(t, ch)
	cancel()
	for {
		if _, ok := recv(t, ch); !ok {
			break
		}
	}
	waitFor(t, func() bool { return f.subscribers() == 0 }, "the server dropped the engine subscription")
}

// waitFor polls cond on a short ticker (a real condition, bounded), failing after 10 s.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("not within 10 s: %s", what)
		}
	}
}

func TestCommandsReachEngine(t *testing.T) {
	f := newFake()
	h := serve(t, f, nil)
	ctx := ctx10(t)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"online", func() error { return h.c.Online(ctx) }},
		{"offline", func() error { return h.c.Offline(ctx) }},
		{"reconnect", func() error { return h.c.Reconnect(ctx) }},
		{"reload", func() error { return h.c.Reload(ctx) }},
		{"online", func() error { h.c.GoOnline(); return nil }},
		{"offline", func() error { h.c.GoOffline(); return nil }},
		{"reconnect", func() error { h.c.ReconnectNow(); return nil }},
	} {
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got, _ := recv(t, f.calls); got != tc.name {
			t.Fatalf("engine got %q, want %q", got, tc.name)
		}
	}
	if n := len(h.logs.lines("control API request", "command=reload")); n != 1 {
		t.Errorf("%d log lines for the reload, want 1:\n%s", n, h.logs)
	}
}

func TestReloadErrorSurfaces(t *testing.T) {
	f := newFake()
	f.reload = func(context.Context) error { return errBadConfig }
	h := serve(t, f, nil)
	err := h.c.Reload(ctx10(t))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 400 || se.Message != errBadConfig.Error() {
		t.Fatalf("Reload = %#v, want a 400 saying %q", err, errBadConfig)
	}
	if err.Error() != errBadConfig.Error() {
		t.Errorf("message %q, want %q", err, errBadConfig)
	}
}

// Commands to no engine: the error-returning variants fail naming the endpoint; the
// core.Controller ones log.
func TestCommandsWithoutEngine(t *testing.T) {
	logs := &logBuf{}
	c := NewClient(t.TempDir()+"/none.sock", slog.New(slog.NewTextHandler(logs, nil)))
	if err := c.Online(ctx10(t)); err == nil || !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("Online = %v", err)
	}
	c.GoOffline()
	if n := len(logs.lines("level=WARN", "command=offline")); n != 1 {
		t.Errorf("GoOffline without engine logged %d warnings, want 1:\n%s", n, logs)
	}
	if err := c.WaitOffline(ctx10(t)); err == nil {
		t.Error("WaitOffline without engine = nil")
	}
}

func TestWaitOffline(t *testing.T) {
	f := newFake()
	f.publish(core.Status{State: core.StateOnline})
	h := serve(t, f, nil)
	done := make(chan error, 1)
	go func() { done <- h.c.WaitOffline(ctx10(t)) }()
	waitFor(t, func() bool { return f.subscribers() == 1 }, "WaitOffline watches")
	f.publish(core.Status{State: core.StateDraining, InFlight: 1})
	select {
	case err := <-done:
		t.Fatalf("WaitOffline returned %v while draining", err)
	default:
	}
	f.publish(core.Status{State: core.StateOffline})
	if err, _ := recv(t, done); err != nil {
		t.Fatalf("WaitOffline = %v", err)
	}

	// The engine leaving while draining is an error, not "offline".
	f.publish(core.Status{State: core.StateDraining})
	waitFor(t, func() bool { return f.subscribers() == 0 }, "the first watch ended")
	go func() { done <- h.c.WaitOffline(ctx10(t)) }()
	waitFor(t, func() bool { return f.subscribers() == 1 }, "WaitOffline watches again")
	h.stop()
	if err, _ := recv(t, done); !errors.Is(err, ErrEngineGone) {
		t.Fatalf("WaitOffline when the engine left = %v, want ErrEngineGone", err)
	}
}

func line(s int, msg string) core.LogLine {
	return core.LogLine{Time: time.Date(2026, 12, 6, 20, 0, s, 0, time.UTC), Level: slog.LevelInfo, Message: msg}
}

func TestLogsFollow(t *testing.T) {
	f := newFake()
	f.publish(core.Status{Log: []core.LogLine{line(1, "a"), line(2, "b")}})
	h := serve(t, f, nil)

	var got []string
	if err := h.c.Logs(ctx10(t), false, func(l core.LogLine) error { got = append(got, l.Message); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a,b" {
		t.Fatalf("recent lines %v, want a,b", got)
	}

	lines := make(chan string, 100)
	ctx, cancel := context.WithCancel(ctx10(t))
	done := make(chan error, 1)
	go func() {
		done <- h.c.Logs(ctx, true, func(l core.LogLine) error { lines <- l.Message; return nil })
	}()
	for _, want := range []string{"a", "b"} {
		if got, _ := recv(t, lines); got != want {
			t.Fatalf("line %q, want %q", got, want)
		}
	}
	waitFor(t, func() bool { return f.subscribers() == 1 }, "logs -f subscribed")
	f.publish(core.Status{Log: []core.LogLine{line(1, "a"), line(2, "b"), line(3, "c")}})
	f.publish(core.Status{Log: []core.LogLine{line(1, "a"), line(2, "b"), line(3, "c")}, Served: 1}) // no new line
	f.publish(core.Status{Log: []core.LogLine{line(2, "b"), line(3, "c"), line(4, "d")}})            // the ring moved
	for _, want := range []string{"c", "d"} {
		if got, _ := recv(t, lines); got != want {
			t.Fatalf("line %q, want %q", got, want)
		}
	}
	cancel()
	if err, _ := recv(t, done); err != nil {
		t.Errorf("Logs after ctx ended = %v, want nil", err)
	}
	select {
	case l := <-lines:
		t.Errorf("extra line %q", l)
	default:
	}

	// follow ends with ErrEngineGone when the server stops.
	waitFor(t, func() bool { return f.subscribers() == 0 }, "the first follow ended")
	go func() { done <- h.c.Logs(ctx10(t), true, func(core.LogLine) error { return nil }) }()
	waitFor(t, func() bool { return f.subscribers() == 1 }, "logs -f subscribed again")
	h.stop()
	if err, _ := recv(t, done); !errors.Is(err, ErrEngineGone) {
		t.Errorf("Logs -f when the engine left = %v, want ErrEngineGone", err)
	}
}

func TestLogTail(t *testing.T) {
	var tl logTail
	msgs := func(ls []core.LogLine) string {
		var s []string
		for _, l := range ls {
			s = append(s, l.Message)
		}
		return strings.Join(s, ",")
	}
	for _, step := range []struct {
		log  []core.LogLine
		want string
	}{
		{nil, ""},
		{[]core.LogLine{line(1, "a"), line(2, "b")}, "a,b"},
		{[]core.LogLine{line(1, "a"), line(2, "b")}, ""},
		{[]core.LogLine{line(1, "a")}, ""}, // an older snapshot
		{[]core.LogLine{line(2, "b"), line(2, "b2"), line(3, "c")}, "b2,c"},
		{[]core.LogLine{line(3, "c"), line(3, "c"), line(4, "d")}, "d"}, // duplicates: after the last "c"
		{[]core.LogLine{line(7, "x"), line(8, "y")}, "x,y"},             // everything rolled past
	} {
		if got := msgs(tl.next(step.log)); got != step.want {
			t.Errorf("next(%s) = %q, want %q", msgs(step.log), got, step.want)
		}
	}
}

func TestWatchKeepAlive(t *testing.T) {
	f := newFake()
	h := serve(t, f, func(s *Server) { s.keepAlive = 20 * time.Millisecond })
	req, _ := http.NewRequestWithContext(ctx10(t), "GET", "http://pin-client/v1/watch", nil)
	req.Header.Set(VersionHeader, APIVersion)
	resp, err := rawClient(t, h.path).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q", ct)
	}
	buf := make([]byte, 4096)
	var got []byte
	for strings.Count(string(got), "\n") < 3 {
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	ls := strings.Split(string(got), "\n")
	if !strings.HasPrefix(ls[0], `{"State":"offline"`) || ls[1] != "" || ls[2] != "" {
		t.Errorf("stream %q, want a status then blank keep-alive lines", got)
	}
}

// A stream that goes silent (no keep-alives) is taken as the engine gone.
func TestClientStreamIdle(t *testing.T) {
	f := newFake()
	h := serve(t, f, nil) // keep-alive every 15 s
	h.c.idle = 50 * time.Millisecond
	f.publish(core.Status{State: core.StateOnline})
	if err := h.c.WaitOffline(ctx10(t)); !errors.Is(err, ErrEngineGone) || !strings.Contains(err.Error(), "nothing heard") {
		t.Fatalf("WaitOffline on a silent stream = %v", err)
	}
}

func TestRequestChecks(t *testing.T) {
	f := newFake()
	h := serve(t, f, nil)
	hc := rawClient(t, h.path)
	for _, tc := range []struct {
		name, method, url, host string
		hdr                     map[string]string
		body                    io.Reader
		code                    int
		errHas                  string
	}{
		{"ok", "GET", "/v1/info", "pin-client", nil, nil, 200, ""},
		{"localhost with port", "GET", "/v1/info", "localhost:80", nil, nil, 200, ""},
		{"other host", "GET", "/v1/info", "evil.example", nil, nil, 403, "evil.example"},
		{"rebound name", "GET", "/v1/status", "attacker.test:8080", nil, nil, 403, "Host: pin-client"},
		{"origin", "GET", "/v1/info", "pin-client", map[string]string{"Origin": "http://evil.example"}, nil, 403, "Origin"},
		{"no version", "GET", "/v1/info", "pin-client", map[string]string{VersionHeader: ""}, nil, 400, VersionHeader},
		{"other version", "GET", "/v1/info", "pin-client", map[string]string{VersionHeader: "v9"}, nil, 400, `"v9"`},
		{"unknown path", "GET", "/v1/nope", "pin-client", nil, nil, 404, "/v1/nope"},
		{"unversioned path", "GET", "/status", "pin-client", nil, nil, 404, "/status"},
		{"wrong method", "GET", "/v1/offline", "pin-client", nil, nil, 405, "POST"},
		{"wrong method 2", "DELETE", "/v1/status", "pin-client", nil, nil, 405, "GET"},
		{"bad follow", "GET", "/v1/logs?follow=yes", "pin-client", nil, nil, 400, "follow"},
		{"body too big", "POST", "/v1/online", "pin-client", nil, strings.NewReader(strings.Repeat("x", 65<<10)), 413, "64"},
		{"small body ok", "POST", "/v1/online", "pin-client", nil, strings.NewReader(`{}`), 202, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx10(t), tc.method, "http://pin-client"+tc.url, tc.body)
			req.Host = tc.host
			req.Header.Set(VersionHeader, APIVersion)
			for k, v := range tc.hdr {
				if v == "" {
					req.Header.Del(k)
				} else {
					req.Header.Set(k, v)
				}
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, tc.code)
			}
			if tc.code == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if tc.errHas == "" {
				return
			}
			var eb errorBody
			if err := json.Unmarshal(b, &eb); err != nil || !strings.Contains(eb.Error, tc.errHas) {
				t.Errorf("body %s: want {\"error\": …%s…}", b, tc.errHas)
			}
			if strings.Count(string(b), "\n") != 1 {
				t.Errorf("error body is not one line: %q", b)
			}
		})
	}
	select {
	case c := <-f.calls:
		if c != "online" {
			t.Errorf("engine got %q", c)
		}
	default:
		t.Error("the small-body POST did not reach the engine")
	}
	select {
	case c := <-f.calls:
		t.Errorf("a refused request reached the engine: %q", c)
	default:
	}
}

func TestNoEngine503(t *testing.T) {
	h := serve(t, nil, nil)
	_, err := h.c.Info(ctx10(t))
	if err != nil {
		t.Fatalf("info without an engine: %v", err)
	}
	var se *StatusError
	if _, _, err := h.c.Fetch(ctx10(t)); !errors.As(err, &se) || se.Code != 503 {
		t.Errorf("status without an engine = %v, want 503", err)
	}
}

// The peer check over a real socket: as root every peer is root, so a peer of another
// uid is injected; as another user the real SO_PEERCRED is refused by a Policy naming
// someone else.
func TestRefusedPeer(t *testing.T) {
	f := newFake()
	h := serve(t, f, func(s *Server) {
		real := s.peerCred
		s.policy = Policy{Self: 4243, GID: -1}
		s.peerCred = func(c net.Conn) (*PeerCred, error) {
			pc, err := real(c)
			if err != nil || pc == nil {
				return pc, err
			}
			if pc.UID == 0 {
				pc.UID = 4242 // as root, pretend to be someone else
			}
			return pc, nil
		}
	})
	for range 3 { // one connection, three requests: one log line
		_, err := h.c.Info(ctx10(t))
		var se *StatusError
		if !errors.As(err, &se) || se.Code != 403 || !strings.Contains(se.Message, "permission denied") {
			t.Fatalf("Info from a refused peer = %v, want 403 permission denied", err)
		}
	}
	if err := h.c.Offline(ctx10(t)); err == nil {
		t.Fatal("a refused peer took the engine offline")
	}
	select {
	case c := <-f.calls:
		t.Fatalf("a refused peer reached the engine: %q", c)
	default:
	}
	ls := h.logs.lines("level=WARN", "refused a peer")
	if len(ls) != 1 {
		t.Fatalf("%d warnings, want exactly 1:\n%s", len(ls), h.logs)
	}
	if !strings.Contains(ls[0], "uid=") || !strings.Contains(ls[0], "pid=") {
		t.Errorf("the warning does not name uid and pid: %s", ls[0])
	}
	if _, _, err := Find(ctx10(t), h.path); !errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Find of a refusing engine = %v, want ErrNoEngine saying permission denied", err)
	}
}

// A member of the policy's group is let in (credentials injected; groups from /proc text).
func TestGroupPeerAllowed(t *testing.T) {
	h := serve(t, newFake(), func(s *Server) {
		s.policy = Policy{Self: 4243, GID: 998}
		s.peerCred = func(net.Conn) (*PeerCred, error) { return &PeerCred{UID: 4242, GID: 4242, PID: 4242}, nil }
		s.groups = func(int) ([]int, error) { return parseGroups(procStatus) }
	})
	if _, err := h.c.Info(ctx10(t)); err != nil {
		t.Fatalf("a pin-client group member was refused: %v", err)
	}
}

func TestZeroPolicyIsDefault(t *testing.T) {
	if p := NewServer(ServerOptions{}).policy; p != DefaultPolicy() {
		t.Errorf("zero Policy became %+v, want %+v", p, DefaultPolicy())
	}
}

// Credentials that cannot be read refuse the peer.
func TestPeerCredErrorRefuses(t *testing.T) {
	h := serve(t, newFake(), func(s *Server) {
		s.peerCred = func(net.Conn) (*PeerCred, error) { return nil, errors.New("peer credentials: no way") }
	})
	var se *StatusError
	if _, err := h.c.Info(ctx10(t)); !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("Info = %v, want 403", err)
	}
	if ls := h.logs.lines("refused a peer", "uid=-1"); len(ls) != 1 {
		t.Errorf("want one warning with uid=-1:\n%s", h.logs)
	}
}
