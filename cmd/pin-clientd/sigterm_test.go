package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
)

// TestSIGTERMDrainsInflightJob runs the real binary: SIGTERM with a streaming job in
// flight stops new work, lets the job finish and deliver its result, and exits 0.
func TestSIGTERMDrainsInflightJob(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "pin-clientd")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, tr := range []string{"sse", "ws"} {
		t.Run(tr, func(t *testing.T) {
			gw := pintest.New(t, pintest.Options{})
			s := backendtest.Answer("a", "b", "c", "d", "e")
			s.TokenDelay = 150 * time.Millisecond
			be := backendtest.NewOllama(t, s)
			be.SetModels("llama3:8b")
			cfg := map[string]any{"clientId": pintest.DefaultClientID, "serverUrl": gw.URL(), "transport": tr,
				"nodes": []map[string]any{{"alias": "gpu", "inferenceUri": be.URL, "apiMode": "ollama", "region": "global", "capacity": 1}}}
			b, _ := json.Marshal(cfg)
			path := filepath.Join(t.TempDir(), "config.json")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "-c", path, "--grace", "20s")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			cmd.Env = []string{"PIN_API_SECRET=" + pintest.DefaultSecret, "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if _, err := gw.WaitNodes(ctx, 1); err != nil {
				t.Fatal(err, stderr.String())
			}
			job, err := gw.Infer(ctx, protocol.InferencePayload{Model: "llama3:8b", Stream: true, Messages: json.RawMessage(`[{"role":"user","content":"hi"}]`)})
			if err != nil {
				t.Fatal(err)
			}
			if err := gw.Wait(ctx, func() bool { return len(job.Chunks()) > 0 }); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			if err != nil {
				t.Fatalf("exit: %v\n%s", err, stderr.String())
			}
			res, err := job.Wait(ctx)
			if err != nil || !res.OK() || job.Text(pintest.KindContent) != "abcde" {
				t.Fatalf("in-flight job: %+v %v %q\n%s", res, err, job.Text(pintest.KindContent), stderr.String())
			}
			log := stderr.String()
			if !strings.Contains(log, "drained") || strings.Contains(log, pintest.DefaultSecret) {
				t.Fatalf("log:\n%s", log)
			}
		})
	}
}

// TestSecondSignalExitsAtOnce: while draining a job that will not finish, a second
// SIGTERM exits at once (status 130) instead of waiting out --grace.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "pin-clientd")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	gw := pintest.New(t, pintest.Options{})
	s := backendtest.Answer("first", "never") // the second token would come in 10 minutes
	s.TokenDelay = 10 * time.Minute
	be := backendtest.NewOllama(t, s)
	be.SetModels("llama3:8b")
	b, _ := json.Marshal(map[string]any{"clientId": pintest.DefaultClientID, "serverUrl": gw.URL(),
		"nodes": []map[string]any{{"alias": "gpu", "inferenceUri": be.URL, "apiMode": "ollama", "region": "global", "capacity": 1}}})
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-c", path, "--grace", "10m")
	cmd.Env = []string{"PIN_API_SECRET=" + pintest.DefaultSecret, "HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	draining := make(chan struct{})
	var logMu sync.Mutex
	var logBuf strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			logMu.Lock()
			logBuf.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if !once && strings.Contains(sc.Text(), "draining") {
				once = true
				close(draining)
			}
		}
	}()
	if _, err := gw.WaitNodes(ctx, 1); err != nil {
		t.Fatal(err)
	}
	job, err := gw.Infer(ctx, protocol.InferencePayload{Model: "llama3:8b", Stream: true, Messages: json.RawMessage(`[]`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Wait(ctx, func() bool { return len(job.Chunks()) > 0 }); err != nil { // the job is running
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-draining:
	case <-ctx.Done():
		t.Fatal("daemon never started draining")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("second signal: exit %v, want status 130\n%s", err, logBuf.String())
	}
}
