package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pin-client/pin-client/internal/config"
)

// buildDaemon compiles ./cmd/pin-clientd of the module at root into dir, as `make
// build-daemon` does (CGO_ENABLED=0, -trimpath).
func buildDaemon(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "pin-clientd")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, "./cmd/pin-clientd")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build pin-clientd: %w\n%s", err, bytes.TrimSpace(b))
	}
	return out, nil
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the pin-client module: run from the repository root")
	}
	return filepath.Dir(mod), nil
}

// daemonConfig is a config.json for the bench operator: nodes nodes (alias n1, n2, …),
// all at backendURL in openai mode with the given capacity. The secret is not in it
// (PIN_API_SECRET carries it).
func daemonConfig(clientID, serverURL, transport, backendURL string, nodes, capacity int) ([]byte, error) {
	c := config.Config{ClientID: clientID, ServerURL: serverURL, Transport: transport, ReconnectDelaySecs: 1}
	for i := range nodes {
		c.Nodes = append(c.Nodes, config.Node{
			Alias: fmt.Sprintf("n%d", i+1), InferenceURI: backendURL, APIMode: config.APIModeOpenAI,
			Region: "global", Capacity: capacity,
		})
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	return json.MarshalIndent(c, "", "  ")
}

// daemon is one running pin-clientd process.
type daemon struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{}
	err     error // set before exited closes
	logPath string
}

// startDaemon runs bin -c cfgPath -n threads with the secret in PIN_API_SECRET and HOME
// in dir (so nothing outside dir is read or written, the job ledger included), plus env
// (KEY=VALUE). stderr goes to logPath.
func startDaemon(bin, dir, cfgPath, secret string, threads int, env []string, logPath string) (*daemon, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-c", cfgPath, "-n", strconv.Itoa(threads), "-l", "info")
	cmd.Dir = dir
	// The job ledger is on (its default) in dir's state directory, so its write cost
	// (one receipt per job, committed before the job's answer) is in the numbers.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "XDG_CONFIG_HOME=" + dir,
		"XDG_STATE_HOME=" + filepath.Join(dir, "state"), "PIN_API_SECRET=" + secret}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	d := &daemon{cmd: cmd, exited: make(chan struct{}), logPath: logPath}
	d.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start pin-clientd: %w", err)
	}
	go func() {
		d.err = cmd.Wait()
		logf.Close()
		close(d.exited)
	}()
	return d, nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// alive reports an error if the daemon has exited.
func (d *daemon) alive() error {
	select {
	case <-d.exited:
		return fmt.Errorf("pin-clientd exited early (%v); see %s", d.err, d.logPath)
	default:
		return nil
	}
}

// stop sends SIGTERM and waits up to 15 s (the daemon drains for up to 10 s), then kills.
func (d *daemon) stop() error {
	select {
	case <-d.exited:
		return nil
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return nil
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
		return errors.New("pin-clientd did not stop within 15 s of SIGTERM; killed")
	}
}

// procCPU is the process's user+system CPU time from /proc/<pid>/stat (utime and stime,
// all threads; clock ticks of 10 ms on Linux).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// clockTick is USER_HZ, 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

func parseStatCPU(b []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no command field")
	}
	f := strings.Fields(string(b[i+1:]))
	// After ")": field 3 (state) is f[0], so field n is f[n-3]; utime=14, stime=15.
	if len(f) < 13 {
		return 0, errors.New("/proc stat: too few fields")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("/proc stat: utime/stime not numbers")
	}
	return time.Duration(u+s) * clockTick, nil
}

// procMem reads VmRSS and VmHWM (peak RSS) in bytes from /proc/<pid>/status.
func procMem(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseStatusMem(b)
}

func parseStatusMem(b []byte) (rss, hwm int64, err error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc status: %s: unexpected %q", k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc status: %s: %w", k, err)
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("/proc status: no VmRSS")
	}
	return rss, hwm, nil
}

// rssSampler samples VmRSS every interval until stopped and keeps the maximum.
type rssSampler struct {
	stopCh chan struct{}
	done   chan struct{}
	max    int64
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if rss, _, err := procMem(pid); err == nil {
				s.max = max(s.max, rss)
			}
			select {
			case <-s.stopCh:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends sampling and returns the largest VmRSS seen.
func (s *rssSampler) stop() int64 {
	close(s.stopCh)
	<-s.done
	return s.max
}

// perfRecord attaches `perf record -g` to pid, writing out; stop ends the recording.
func perfRecord(pid int, out string) (stop func(), err error) {
	cmd := exec.Command("perf", "record", "-q", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", out)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf record: %w", err)
	}
	time.Sleep(300 * time.Millisecond) // let it attach before the phase starts
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}, nil
}
