package installer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kardianos/service"
)

// ErrStopTimeout: the program did not return within RunOptions.StopTimeout of being
// asked to stop.
var ErrStopTimeout = errors.New("the program did not stop in time")

// RunOptions configure the service side.
type RunOptions struct {
	Name string // the installed service's name (Windows Event Log source, syslog tag)
	// StopTimeout is how long Stop waits for the program to return once its context is
	// cancelled. 0: DefaultStopTimeout.
	StopTimeout time.Duration
}

// Runner runs a program under the OS service manager.
type Runner struct {
	o   RunOptions
	svc service.Service
	p   *program
}

// NewRunner prepares to run under the service manager. On Linux it forces kardianos'
// systemd backend (never SysV).
func NewRunner(o RunOptions) (*Runner, error) {
	if o.Name == "" {
		return nil, errors.New("service name is empty")
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	forceSystemd()
	p := &program{timeout: o.StopTimeout, done: make(chan struct{})}
	cfg := &service.Config{Name: o.Name, Option: service.KeyValue{"RunWait": p.wait}}
	s, err := service.New(p, cfg)
	if err != nil {
		return nil, fmt.Errorf("service manager: %w", err)
	}
	return &Runner{o: o, svc: s, p: p}, nil
}

// Interactive reports whether the process runs from a terminal rather than under the
// service manager.
func (r *Runner) Interactive() bool { return service.Interactive() }

// LogWriter is where the program should write its log lines when the service manager
// gives it nowhere else: on Windows the Event Log (through kardianos' logger, each line
// at the level its text names), otherwise nil, meaning stderr, which systemd sends to
// the journal and launchd to the plist's StandardErrorPath.
func (r *Runner) LogWriter() io.Writer {
	if !logToService || r.Interactive() {
		return nil
	}
	l, err := r.svc.Logger(nil)
	if err != nil {
		return nil
	}
	return NewLogWriter(l)
}

// Run calls fn in a goroutine as soon as the service manager starts the service (Start
// returns at once: a Windows service that does not report "running" within 30 s fails
// with error 1053), and cancels fn's context when the manager stops the service or ctx
// ends. It returns when fn has returned, or with ErrStopTimeout when fn is still
// running StopTimeout after its cancellation. fn's error is returned, except
// context.Canceled. If fn returns by itself, Run returns its error so the process exits
// and the service manager restarts it (on Windows the process exits with status 1 at
// once, which triggers the service's recovery action).
func (r *Runner) Run(ctx context.Context, fn func(ctx context.Context) error) error {
	r.p.parent, r.p.fn = ctx, fn
	return r.svc.Run()
}

type program struct {
	parent  context.Context
	fn      func(context.Context) error
	timeout time.Duration

	cancel context.CancelFunc
	done   chan struct{} // closed when fn has returned
	err    error         // fn's result, read after done
}

// Start launches fn and returns at once.
func (p *program) Start(s service.Service) error {
	ctx, cancel := context.WithCancel(p.parent)
	p.cancel = cancel
	go func() {
		defer close(p.done)
		p.err = p.fn(ctx)
		if ctx.Err() == nil && selfExit != nil && !service.Interactive() {
			// Failed on its own under the SCM: say why where the operator looks, then
			// exit so that the recovery action restarts the service.
			if l, err := s.Logger(nil); err == nil {
				l.Errorf("service program stopped by itself: %v", p.err)
			}
			selfExit(1)
		}
	}()
	return nil
}

// wait blocks (POSIX; kardianos' RunWait option) until a stop signal, the parent
// context's end, or fn returning by itself.
func (p *program) wait() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sig)
	select {
	case <-sig:
	case <-p.parent.Done():
	case <-p.done:
	}
}

// Stop cancels fn and waits for it up to the timeout.
func (p *program) Stop(service.Service) error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	t := time.NewTimer(p.timeout)
	defer t.Stop()
	select {
	case <-p.done:
		if errors.Is(p.err, context.Canceled) {
			return nil
		}
		return p.err
	case <-t.C:
		return fmt.Errorf("%w: still running %v after the stop request", ErrStopTimeout, p.timeout)
	}
}

// NewLogWriter adapts a kardianos logger to an io.Writer of log lines: each line goes
// to Error, Warning or Info by the first level word in it (ERROR, WARN, else info;
// "level=ERROR" as slog's text handler writes it counts too). Safe for concurrent use.
func NewLogWriter(l service.Logger) io.Writer { return &logWriter{l: l} }

type logWriter struct {
	mu  sync.Mutex
	l   service.Logger
	buf []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(w.buf[:i]), "\r")
		w.buf = w.buf[i+1:]
		if line != "" {
			w.emit(line)
		}
	}
	return len(p), nil
}

func (w *logWriter) emit(line string) {
	head := line
	if len(head) > 48 {
		head = head[:48]
	}
	switch {
	case strings.Contains(head, "ERROR"):
		w.l.Error(line)
	case strings.Contains(head, "WARN"):
		w.l.Warning(line)
	default:
		w.l.Info(line)
	}
}
