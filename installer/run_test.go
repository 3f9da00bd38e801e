package installer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// startSignalLoop starts the os/signal watcher outside any synctest bubble: started
// inside one, its goroutine would belong to the bubble and never end.
func startSignalLoop() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt)
	signal.Stop(c)
}

func TestRunnerStopsOnCancel(t *testing.T) {
	startSignalLoop()
	synctest.Test(t, func(t *testing.T) {
		r, err := NewRunner(RunOptions{Name: "pin-test", StopTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		started := make(chan struct{})
		var drained time.Duration
		go func() { <-started; cancel() }()
		err = r.Run(ctx, func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			t0 := time.Now()
			time.Sleep(2 * time.Second) // draining jobs (fake time)
			drained = time.Since(t0)
			return ctx.Err()
		})
		if err != nil {
			t.Errorf("Run = %v, want nil (cancellation is not an error)", err)
		}
		if drained != 2*time.Second {
			t.Errorf("drain cut short: %v", drained)
		}
	})
}

func TestRunnerProgramFails(t *testing.T) {
	startSignalLoop()
	synctest.Test(t, func(t *testing.T) {
		r, err := NewRunner(RunOptions{Name: "pin-test"})
		if err != nil {
			t.Fatal(err)
		}
		boom := errors.New("config: nodes: empty")
		err = r.Run(t.Context(), func(context.Context) error { return boom })
		if !errors.Is(err, boom) {
			t.Errorf("Run = %v, want the program's error so the manager restarts it", err)
		}
	})
}

func TestRunnerStopTimeout(t *testing.T) {
	startSignalLoop()
	synctest.Test(t, func(t *testing.T) {
		r, err := NewRunner(RunOptions{Name: "pin-test", StopTimeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		release := make(chan struct{})
		go func() { time.Sleep(time.Second); cancel() }()
		asked := make(chan time.Time, 1)
		t0 := time.Now()
		err = r.Run(ctx, func(ctx context.Context) error {
			<-ctx.Done()
			asked <- time.Now()
			<-release // ignores the cancellation
			return nil
		})
		if !errors.Is(err, ErrStopTimeout) {
			t.Errorf("Run = %v, want ErrStopTimeout", err)
		}
		stopAsked := <-asked
		if d := time.Since(t0); d != 4*time.Second || stopAsked.Sub(t0) != time.Second {
			t.Errorf("returned after %v (stop asked at %v), want 4s", d, stopAsked.Sub(t0))
		}
		close(release)
	})
}

func TestNewRunnerNeedsName(t *testing.T) {
	if _, err := NewRunner(RunOptions{}); err == nil {
		t.Error("empty name accepted")
	}
}

type fakeLogger struct {
	mu    sync.Mutex
	lines []string
}

func (f *fakeLogger) add(level string, v ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lines = append(f.lines, level+":"+fmt.Sprint(v...))
	return nil
}
func (f *fakeLogger) Error(v ...any) error              { return f.add("E", v...) }
func (f *fakeLogger) Warning(v ...any) error            { return f.add("W", v...) }
func (f *fakeLogger) Info(v ...any) error               { return f.add("I", v...) }
func (f *fakeLogger) Errorf(s string, a ...any) error   { return f.add("E", fmt.Sprintf(s, a...)) }
func (f *fakeLogger) Warningf(s string, a ...any) error { return f.add("W", fmt.Sprintf(s, a...)) }
func (f *fakeLogger) Infof(s string, a ...any) error    { return f.add("I", fmt.Sprintf(s, a...)) }

func TestLogWriter(t *testing.T) {
	l := &fakeLogger{}
	w := NewLogWriter(l)
	in := "2025-01-02 10:00:00 INFO  [NODE] registered alias=gpu-1\nWARN  config warning=x\r\n" +
		"ERROR [INFERENCE] backend failed\ntime=x level=ERROR msg=y\n\nlevel=WARN msg=split "
	for _, chunk := range []string{in[:10], in[10:50], in[50:]} { // lines split across writes
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatal(n, err)
		}
	}
	w.Write([]byte("line\n"))
	want := []string{
		"I:2025-01-02 10:00:00 INFO  [NODE] registered alias=gpu-1",
		"W:WARN  config warning=x",
		"E:ERROR [INFERENCE] backend failed",
		"E:time=x level=ERROR msg=y",
		"W:level=WARN msg=split line",
	}
	if strings.Join(l.lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(l.lines, "\n"), strings.Join(want, "\n"))
	}
}
