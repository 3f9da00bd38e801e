package main

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pin-client/pin-client/internal/demo"
	"github.com/pin-client/pin-client/internal/demo/demotest"
)

// lineWatch is a Stdout that counts the lines containing want and signals when n arrived
// (and, when set, a line containing also).
type lineWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	n    int
	also string
	hit  chan struct{}
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if text := w.buf.String(); w.n > 0 && strings.Count(text, w.want) >= w.n && strings.Contains(text, w.also) {
		w.n = 0
		close(w.hit)
	}
	return len(p), nil
}

func (w *lineWatch) String() string { w.mu.Lock(); defer w.mu.Unlock(); return w.buf.String() }

var summaryRE = regexp.MustCompile(`(\d+) requests sent, (\d+) answered, (\d+) failed(?:, \d+ cut off by the stop)?; the node served (\d+) jobs, (\d+) tokens`)

// `pin-clientd demo` serves jobs end to end on loopback (gateway, engine, built-in
// backend, consumer), prints them, and on Ctrl-C drains, prints the summary and returns
// nil (exit 0), touching nothing of the user's and leaving nothing behind.
func TestDemoServesJobsAndExitsCleanly(t *testing.T) {
	demotest.Guard(t)
	// The interview's verdict may come after the first jobs (they are not held for it).
	out := &lineWatch{want: " served: ", n: 4, also: "interviewed by the gateway", hit: make(chan struct{})}
	var stderr bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- dispatch(ctx, []string{"demo", "--builtin", "--interval", "1ms", "--token-delay", "-1ns"},
			cmdIO{Stdout: out, Stderr: &stderr, Env: func(string) string { return "" }})
	}()
	select {
	case <-out.hit:
	case err := <-done:
		t.Fatalf("demo returned before serving 4 jobs: %v\nstdout:\n%s\nstderr:\n%s", err, out, &stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("no 4 jobs served within 60 s\nstdout:\n%s\nstderr:\n%s", out, &stderr)
	}
	cancel() // Ctrl-C
	if err := <-done; err != nil {
		t.Fatalf("demo after Ctrl-C: %v, want nil (exit 0)\nstderr:\n%s", err, &stderr)
	}
	text := out.String()
	for _, want := range []string{demo.Banner, demo.BuiltInLabel, "interviewed by the gateway: tier verified", "demo summary"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	m := summaryRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no summary line in:\n%s", text)
	}
	answered, _ := strconv.Atoi(m[2])
	served, _ := strconv.Atoi(m[4])
	tokens, _ := strconv.Atoi(m[5])
	if answered < 4 || served < answered || tokens == 0 {
		t.Errorf("summary %q: want at least 4 answered, as many served, tokens counted", m[0])
	}
	if strings.Contains(text+stderr.String(), "pin_sk_demo_") {
		t.Error("the demo printed its secret")
	}
}

// --duration ends the demo by itself with exit 0 and a summary.
func TestDemoDurationEnds(t *testing.T) {
	demotest.Guard(t)
	var out, stderr bytes.Buffer
	err := dispatch(context.Background(), []string{"demo", "--builtin", "--duration", "1ms"},
		cmdIO{Stdout: &out, Stderr: &stderr, Env: func(string) string { return "" }})
	if err != nil {
		t.Fatalf("demo --duration 1ms: %v\n%s", err, &stderr)
	}
	if !summaryRE.MatchString(out.String()) || !strings.Contains(out.String(), "running for 1ms") {
		t.Errorf("output:\n%s", &out)
	}
}

func TestDemoBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--duration", "-1s"}, "--duration -1s is negative"},
		{[]string{"--interval", "0s"}, "--interval 0s: use a positive duration"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-l", "loud"}, "-l/--log-level"},
	} {
		var out, stderr bytes.Buffer
		err := runDemo(context.Background(), tc.args, cmdIO{Stdout: &out, Stderr: &stderr, Env: func(string) string { return "" }})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("demo %v: %v, want one line containing %q", tc.args, err, tc.want)
		}
		if out.Len() > 0 {
			t.Errorf("demo %v started anyway:\n%s", tc.args, &out)
		}
	}
}

// The local gateway (core/pintest) is linked into the daemon for `gateway` and `demo`;
// it must not bring the testing package with it.
func TestDaemonDoesNotLinkTesting(t *testing.T) {
	if d := deps(t, "./", "linux"); slices.Contains(d, "testing") {
		t.Error(`pin-clientd links package "testing"; keep it out of core/pintest's and internal/demo's non-test files`)
	}
}
