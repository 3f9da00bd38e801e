package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildDaemon compiles ./cmd/pin-clientd of the module in the working directory's
// module into dir, as `make build-daemon` does (CGO_ENABLED=0 unless race).
func buildDaemon(ctx context.Context, dir string, race bool) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	out := filepath.Join(dir, "pin-clientd")
	args := []string{"build", "-trimpath", "-o", out}
	env := append(os.Environ(), "CGO_ENABLED=0")
	if race {
		args = append(args, "-race")
		env = append(os.Environ(), "CGO_ENABLED=1")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/pin-clientd")...)
	cmd.Dir, cmd.Env = root, env
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build pin-clientd: %w\n%s", err, bytes.TrimSpace(b))
	}
	return out, nil
}

// daemon is one running pin-clientd.
type daemon struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	err     error // set before exited closes
	logPath string
}

// startDaemon runs bin with args in dir, with only PATH, the secret and HOME/XDG_* dirs
// inside dir in its environment; stdout and stderr go to logPath.
func startDaemon(bin, dir, secret string, args []string, logPath string) (*daemon, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "PIN_API_SECRET=" + secret}
	if v, ok := os.LookupEnv("GODEBUG"); ok { // e.g. GODEBUG=gctrace=1 to see the daemon's heap in its log
		cmd.Env = append(cmd.Env, "GODEBUG="+v)
	}
	for _, k := range []string{"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"} {
		p := filepath.Join(dir, strings.ToLower(k))
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Env, k+"="+p)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start pin-clientd: %w", err)
	}
	d := &daemon{cmd: cmd, exited: make(chan struct{}), logPath: logPath}
	go func() {
		d.err = cmd.Wait()
		logf.Close()
		close(d.exited)
	}()
	return d, nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

func (d *daemon) alive() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// terminate sends SIGTERM and waits up to limit; past it the daemon is killed. It
// returns how long the exit took, the exit code (-1 when killed) and whether it was
// killed.
func (d *daemon) terminate(limit time.Duration) (took time.Duration, code int, killed bool) {
	start := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(limit):
		_ = d.cmd.Process.Kill()
		<-d.exited
		killed = true
	}
	took = time.Since(start)
	code = d.cmd.ProcessState.ExitCode()
	return took, code, killed
}

// kill stops the daemon at once (on a harness error).
func (d *daemon) kill() {
	if d.alive() {
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// sample is one reading of the daemon's resources.
type sample struct {
	at  time.Duration // since the sampler started
	rss int64         // bytes (VmRSS)
	fds int           // entries of /proc/<pid>/fd
}

// sampler reads VmRSS and the FD count every interval until stopped.
type sampler struct {
	mu      sync.Mutex // guards samples
	samples []sample
	stop    chan struct{}
	done    chan struct{}
}

func startSampler(pid int, every time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			rss, err1 := vmRSS(pid)
			fds, err2 := openFDs(pid)
			if err1 == nil && err2 == nil {
				s.mu.Lock()
				s.samples = append(s.samples, sample{at: time.Since(start), rss: rss, fds: fds})
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish stops sampling and returns the samples.
func (s *sampler) finish() []sample {
	close(s.stop)
	<-s.done
	return s.samples
}

func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("/proc status: VmRSS: unexpected %q", v)
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			return n << 10, err
		}
	}
	return 0, errors.New("/proc status: no VmRSS")
}

func openFDs(pid int) (int, error) {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(es), err
}

// window returns the samples with from <= at < to.
func window(ss []sample, from, to time.Duration) []sample {
	var w []sample
	for _, s := range ss {
		if s.at >= from && s.at < to {
			w = append(w, s)
		}
	}
	return w
}

func minRSS(ss []sample) int64 {
	if len(ss) == 0 {
		return 0
	}
	m := ss[0].rss
	for _, s := range ss {
		m = min(m, s.rss)
	}
	return m
}

func maxFDs(ss []sample) int {
	m := 0
	for _, s := range ss {
		m = max(m, s.fds)
	}
	return m
}

// outputReport is what a scan of the daemon's output found.
type outputReport struct {
	lines, bytes int
	panics       []string // first lines of panics, fatal errors and data races
	secretLines  int
}

// scanOutput reads the daemon's log for panics, fatal errors, data races and the secret.
func scanOutput(path, secret string) (outputReport, error) {
	var r outputReport
	f, err := os.Open(path)
	if err != nil {
		return r, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		r.lines++
		r.bytes += len(line) + 1
		if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") ||
			strings.Contains(line, "WARNING: DATA RACE") || strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, "[running]:") {
			if len(r.panics) < 5 {
				r.panics = append(r.panics, line)
			}
		}
		if strings.Contains(line, secret) {
			r.secretLines++
		}
	}
	return r, sc.Err()
}
