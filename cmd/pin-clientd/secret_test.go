package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/secret"
	"github.com/zalando/go-keyring"
)

const testSecret = "pin_sk_fake0123456789abcdef0123456789" // fake

// fakeIO is a cmdIO over buffers and a map environment.
type fakeIO struct {
	stdin          *strings.Reader
	stdout, stderr bytes.Buffer
	env            map[string]string
	terminal       bool
	password       string
}

func (f *fakeIO) io() cmdIO {
	if f.stdin == nil {
		f.stdin = strings.NewReader("")
	}
	return cmdIO{
		Stdin: f.stdin, Stdout: &f.stdout, Stderr: &f.stderr,
		Env:          func(k string) string { return f.env[k] },
		IsTerminal:   func() bool { return f.terminal },
		ReadPassword: func() ([]byte, error) { return []byte(f.password), nil },
	}
}

// secretEnv sets up a mock keyring, a temp HOME, a temp system root and a valid config;
// it returns the fake IO and the config path.
func secretEnv(t *testing.T) (*fakeIO, string) {
	t.Helper()
	keyring.MockInit()
	old := systemRoot
	systemRoot = t.TempDir()
	t.Cleanup(func() { systemRoot = old })
	home := t.TempDir()
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	writeConfig(t, cfgPath, "")
	return &fakeIO{env: map[string]string{"HOME": home, "AppData": filepath.Join(home, "AppData"),
		"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/mock"}}, cfgPath // the mock keyring needs no bus
}

func writeConfig(t *testing.T, path, apiSecret string) {
	t.Helper()
	cfg := &config.Config{ClientID: "op_cmdtest", APISecret: apiSecret, Nodes: []config.Node{{
		Alias: "gpu-1", InferenceURI: "http://localhost:11434", APIMode: "ollama", Region: "us-east", Capacity: 1,
	}}}
	if err := cfg.Save(path, true); err != nil {
		t.Fatal(err)
	}
}

func (f *fakeIO) assertNoSecret(t *testing.T, errs ...error) {
	t.Helper()
	all := f.stdout.String() + f.stderr.String()
	for _, err := range errs {
		if err != nil {
			all += err.Error()
		}
	}
	if strings.Contains(all, testSecret) || strings.Contains(all, "fake0123456789") {
		t.Fatalf("the secret appeared in output or errors:\n%s", all)
	}
}

// TestSecretSetNeverLeaks proves the secret stays out of argv, output, logs and errors:
// a secret given as an argument is refused without being echoed or stored; one given on
// stdin or at the prompt is stored and never printed, whatever path the command takes.
func TestSecretSetNeverLeaks(t *testing.T) {
	t.Run("argv refused", func(t *testing.T) {
		f, cfg := secretEnv(t)
		err := runSecret(context.Background(), []string{"set", "-c", cfg, testSecret}, f.io())
		if err == nil || !strings.Contains(err.Error(), "not accepted on the command line") {
			t.Fatalf("err = %v", err)
		}
		f.assertNoSecret(t, err)
		if _, err := keyring.Get(secret.KeyringService, "op_cmdtest"); !errors.Is(err, keyring.ErrNotFound) {
			t.Error("a secret from argv was stored")
		}
	})
	t.Run("unknown flag with value", func(t *testing.T) {
		f, cfg := secretEnv(t)
		err := runSecret(context.Background(), []string{"set", "-c", cfg, "--secret=" + testSecret}, f.io())
		if err == nil {
			t.Fatal("accepted --secret")
		}
		f.assertNoSecret(t, err)
	})
	t.Run("stdin", func(t *testing.T) {
		f, cfg := secretEnv(t)
		f.stdin = strings.NewReader(testSecret + "\nsecond line ignored\n")
		err := runSecret(context.Background(), []string{"set", "-c", cfg}, f.io())
		if err != nil {
			t.Fatal(err)
		}
		got, _ := keyring.Get(secret.KeyringService, "op_cmdtest")
		if got != testSecret {
			t.Error("stored value differs")
		}
		if !strings.Contains(f.stdout.String(), "OS keyring (pin-client/op_cmdtest)") {
			t.Errorf("stdout %q", f.stdout.String())
		}
		f.assertNoSecret(t)
	})
	t.Run("terminal prompt", func(t *testing.T) {
		f, cfg := secretEnv(t)
		f.terminal, f.password = true, testSecret
		f.stdin = strings.NewReader("must not be read")
		if err := runSecret(context.Background(), []string{"set", "-c", cfg}, f.io()); err != nil {
			t.Fatal(err)
		}
		if got, _ := keyring.Get(secret.KeyringService, "op_cmdtest"); got != testSecret {
			t.Error("prompt value not stored")
		}
		if !strings.Contains(f.stderr.String(), "input hidden") {
			t.Errorf("no prompt: %q", f.stderr.String())
		}
		f.assertNoSecret(t)
	})
	t.Run("keyring failure", func(t *testing.T) {
		f, cfg := secretEnv(t)
		f.stdin = strings.NewReader(testSecret)
		keyring.MockInitWithError(errors.New("dbus: no session bus"))
		err := runSecret(context.Background(), []string{"set", "-c", cfg}, f.io())
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(f.env["HOME"], ".config", "pin-client", "op_cmdtest.secret")
		if runtime.GOOS == "linux" && !strings.Contains(f.stdout.String(), want) {
			t.Errorf("fallback path not named: %q", f.stdout.String())
		}
		if !strings.Contains(f.stderr.String(), "WARN") {
			t.Errorf("no warning: %q", f.stderr.String())
		}
		f.assertNoSecret(t)
	})
	t.Run("data too big", func(t *testing.T) {
		f, cfg := secretEnv(t)
		f.stdin = strings.NewReader(testSecret)
		keyring.MockInitWithError(keyring.ErrSetDataTooBig)
		err := runSecret(context.Background(), []string{"set", "-c", cfg}, f.io())
		if err == nil {
			t.Fatal("no error")
		}
		f.assertNoSecret(t, err)
	})
	// The keyring takes the secret but gives back something else (a locked or read-only
	// keyring): set fails at the read-back and says so.
	t.Run("read-back failure", func(t *testing.T) {
		f, cfg := secretEnv(t)
		f.stdin = strings.NewReader(testSecret)
		kr := &readBackKeyring{got: "pin_sk_something_else"}
		secretKeyring = kr
		t.Cleanup(func() { secretKeyring = nil })
		err := runSecret(context.Background(), []string{"set", "-c", cfg}, f.io())
		if err == nil || !strings.Contains(err.Error(), "verify keyring entry") {
			t.Fatalf("err = %v, want the read-back to fail", err)
		}
		if kr.sets != 1 || kr.gets != 1 {
			t.Fatalf("keyring calls: %d sets, %d gets; want one of each", kr.sets, kr.gets)
		}
		f.assertNoSecret(t, err)
	})
}

// readBackKeyring stores nothing: Set succeeds, Get returns got.
type readBackKeyring struct {
	got        string
	sets, gets int
}

func (k *readBackKeyring) Set(_, _, _ string) error { k.sets++; return nil }
func (k *readBackKeyring) Get(_, _ string) (string, error) {
	k.gets++
	return k.got, nil
}
func (k *readBackKeyring) Delete(_, _ string) error { return keyring.ErrNotFound }

func TestSecretSetInputs(t *testing.T) {
	f, cfg := secretEnv(t)
	f.stdin = strings.NewReader("  \n")
	if err := runSecret(context.Background(), []string{"set", "-c", cfg}, f.io()); err == nil || !strings.Contains(err.Error(), "no secret given") {
		t.Errorf("empty stdin: %v", err)
	}
	f.stdin = strings.NewReader(strings.Repeat("x", 5000))
	if err := runSecret(context.Background(), []string{"set", "-c", cfg}, f.io()); err == nil || !strings.Contains(err.Error(), "4 KiB") {
		t.Errorf("long line: %v", err)
	}
	f.stdin = strings.NewReader("not_a_pin_secret")
	if err := runSecret(context.Background(), []string{"set", "-c", cfg}, f.io()); err != nil || !strings.Contains(f.stderr.String(), "does not start with pin_sk_") {
		t.Errorf("odd secret: %v %q", err, f.stderr.String())
	}
	// No config: --client-id is enough; without it the error says so.
	f.stdin = strings.NewReader(testSecret)
	missing := filepath.Join(t.TempDir(), "none.json")
	if err := runSecret(context.Background(), []string{"set", "-c", missing, "--client-id", "op_other"}, f.io()); err != nil {
		t.Errorf("--client-id: %v", err)
	}
	if err := runSecret(context.Background(), []string{"set", "-c", missing}, f.io()); err == nil || !strings.Contains(err.Error(), "--client-id") {
		t.Errorf("missing config: %v", err)
	}
	for _, args := range [][]string{nil, {"bogus"}, {"status", "extra"}} {
		if err := runSecret(context.Background(), args, f.io()); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if err := runSecret(context.Background(), []string{"-h"}, f.io()); err != nil {
		t.Errorf("-h: %v", err)
	}
	f.assertNoSecret(t)
}

func TestSecretSystemFile(t *testing.T) {
	f, cfg := secretEnv(t)
	f.stdin = strings.NewReader(testSecret)
	if err := runSecret(context.Background(), []string{"set", "--system", "-c", cfg}, f.io()); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(systemRoot, secret.SystemDir(f.io().Env), secret.ServiceFileName)
	sec, err := secret.ReadFile(p)
	if err != nil || sec.Reveal() != testSecret {
		t.Fatalf("service file: %v", err)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", fi.Mode())
		}
	}
	if _, err := keyring.Get(secret.KeyringService, "op_cmdtest"); !errors.Is(err, keyring.ErrNotFound) {
		t.Error("--system also wrote the keyring")
	}
	f.stdout.Reset()
	if err := runSecret(context.Background(), []string{"delete", "--system", "-c", cfg}, f.io()); err != nil || !strings.Contains(f.stdout.String(), "Removed") {
		t.Fatal(err, f.stdout.String())
	}
	if fileExists(p) {
		t.Error("service file not removed")
	}
	f.assertNoSecret(t)
}

func TestSecretStatusAndDelete(t *testing.T) {
	f, cfg := secretEnv(t)
	err := runSecret(context.Background(), []string{"status", "-c", cfg}, f.io())
	if !errors.Is(err, secret.ErrNotFound) || !strings.Contains(f.stdout.String(), "in use:   none") {
		t.Fatalf("status without secret: %v\n%s", err, f.stdout.String())
	}
	f.stdin = strings.NewReader(testSecret)
	if err := runSecret(context.Background(), []string{"set", "-c", cfg}, f.io()); err != nil {
		t.Fatal(err)
	}
	f.stdout.Reset()
	if err := runSecret(context.Background(), []string{"status", "-c", cfg}, f.io()); err != nil {
		t.Fatal(err)
	}
	out := f.stdout.String()
	for _, want := range []string{"API secret for op_cmdtest", "in use:   OS keyring (pin-client/op_cmdtest)", "PIN_API_SECRET", "not set", "(service)"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	// The environment wins, and status says so.
	f.env[secret.EnvSecret] = testSecret
	f.stdout.Reset()
	runSecret(context.Background(), []string{"status", "-c", cfg}, f.io())
	if !strings.Contains(f.stdout.String(), "in use:   environment variable PIN_API_SECRET") {
		t.Errorf("env source:\n%s", f.stdout.String())
	}
	delete(f.env, secret.EnvSecret)

	// apiSecret in a world-readable config: used, warned about, and set says it wins.
	writeConfig(t, cfg, testSecret)
	os.Chmod(cfg, 0o644)
	f.stdout.Reset()
	f.stderr.Reset()
	runSecret(context.Background(), []string{"status", "-c", cfg}, f.io())
	if !strings.Contains(f.stdout.String(), "in use:   apiSecret in") {
		t.Errorf("config source:\n%s", f.stdout.String())
	}
	if runtime.GOOS != "windows" && !strings.Contains(f.stderr.String(), "readable by group or others") {
		t.Errorf("no permission warning: %q", f.stderr.String())
	}
	f.stdin = strings.NewReader(testSecret)
	runSecret(context.Background(), []string{"set", "-c", cfg}, f.io())
	if !strings.Contains(f.stdout.String(), "still has apiSecret") {
		t.Errorf("no precedence note:\n%s", f.stdout.String())
	}
	writeConfig(t, cfg, "")

	f.stdout.Reset()
	if err := runSecret(context.Background(), []string{"delete", "-c", cfg}, f.io()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.stdout.String(), "Removed the API secret for op_cmdtest from the OS keyring") {
		t.Errorf("delete:\n%s", f.stdout.String())
	}
	f.stdout.Reset()
	runSecret(context.Background(), []string{"delete", "-c", cfg}, f.io())
	if !strings.Contains(f.stdout.String(), "nothing removed") {
		t.Errorf("second delete:\n%s", f.stdout.String())
	}
	f.assertNoSecret(t)
}

func TestDaemonSecret(t *testing.T) {
	f, cfgPath := secretEnv(t)
	cfg, _, err := config.Load(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := daemonSecret(cfg, cfgPath, f.io(), nil); !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	keyring.Set(secret.KeyringService, "op_cmdtest", testSecret)
	sec, src, err := daemonSecret(cfg, cfgPath, f.io(), nil)
	if err != nil || sec.Reveal() != testSecret || src != "OS keyring (pin-client/op_cmdtest)" {
		t.Fatalf("%q %v", src, err)
	}
}
