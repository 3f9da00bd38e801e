package enginelock

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testID = "op_test/1"

func TestAcquireHeldRelease(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	started := time.Date(2026, 12, 6, 10, 2, 0, 0, time.Local)
	l, err := Acquire(dir, testID, Holder{Kind: KindService, Scope: ScopeUser, PID: 4242, Started: started, Socket: "/run/x.sock", ConfigPath: "/etc/c.json"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v %v, want 0700", fi.Mode(), err)
	}
	if base := filepath.Base(l.Path()); !strings.HasPrefix(base, "engine-op_test_1-") || !strings.HasSuffix(base, ".lock") {
		t.Errorf("lock file %q", base)
	}

	// A second Acquire in the same process opens the file again: flock conflicts
	// between open file descriptions, so it is refused like another process would be.
	_, err = Acquire(dir, testID, Holder{Kind: KindDaemon, Scope: ScopeUser})
	var he *HeldError
	if !errors.As(err, &he) || !errors.Is(err, ErrHeld) {
		t.Fatalf("second Acquire: %v, want *HeldError", err)
	}
	if !he.HolderKnown || he.Holder.PID != 4242 || he.Holder.Kind != KindService || he.Holder.ClientID != testID ||
		he.Holder.Socket != "/run/x.sock" || he.Holder.ConfigPath != "/etc/c.json" || !he.Holder.Started.Equal(started) {
		t.Errorf("holder = %+v known=%v", he.Holder, he.HolderKnown)
	}
	want := "another engine already serves operator op_test/1 on this machine: the background service (PID 4242, since 10:02); " +
		"control it with `pin-clientd status|offline|online`, or stop it with `pin-clientd service stop --user`"
	if err.Error() != want {
		t.Errorf("error:\n got %s\nwant %s", err, want)
	}

	h, held, err := Check(dir, testID)
	if err != nil || !held || h.PID != 4242 {
		t.Errorf("Check while held = %+v %v %v", h, held, err)
	}
	// Another operator is independent.
	other, err := Acquire(dir, "op_other", Holder{Kind: KindApp})
	if err != nil {
		t.Fatalf("other operator: %v", err)
	}
	if err := other.Release(); err != nil {
		t.Error(err)
	}

	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if _, held, err := Check(dir, testID); err != nil || held {
		t.Errorf("Check after Release: held=%v err=%v", held, err)
	}
	l2, err := Acquire(dir, testID, Holder{Kind: KindDaemon, Scope: ScopeUser})
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	defer l2.Release()
	if h, held, _ := Check(dir, testID); !held || h.PID != os.Getpid() || h.Started.IsZero() || h.Kind != KindDaemon {
		t.Errorf("defaults not filled: %+v", h)
	}
}

func TestCheckMissing(t *testing.T) {
	if _, held, err := Check(filepath.Join(t.TempDir(), "nope"), testID); err != nil || held {
		t.Errorf("Check in a missing dir: held=%v err=%v", held, err)
	}
}

func TestFileIDDistinguishesUnsafeIDs(t *testing.T) {
	a, b := fileID("op_a/b"), fileID("op_a:b")
	if a == b || strings.ContainsAny(a, `/\:`) {
		t.Errorf("fileID: %q %q", a, b)
	}
	if _, err := Acquire(t.TempDir(), "  ", Holder{}); err == nil || !strings.Contains(err.Error(), "clientId is empty") {
		t.Errorf("empty clientId: %v", err)
	}
}

func TestHeldErrorTexts(t *testing.T) {
	at := time.Date(2026, 12, 6, 9, 5, 0, 0, time.Local)
	pre := "another engine already serves operator op_x on this machine: "
	for _, tc := range []struct {
		h     Holder
		known bool
		want  string
	}{
		{Holder{Kind: KindDaemon, PID: 4242}, true, "pin-clientd in a terminal (PID 4242); stop it with Ctrl-C or kill 4242"},
		{Holder{Kind: KindDaemon, PID: 7, Started: at}, true, "pin-clientd in a terminal (PID 7, since 09:05); stop it with Ctrl-C or kill 7"},
		{Holder{Kind: KindApp, PID: 99, Started: at}, true, "the PIN Client desktop app (PID 99, since 09:05); quit it from its tray menu"},
		{Holder{Kind: KindService, Scope: ScopeSystem, PID: 1}, true,
			"the background service (PID 1); control it with `pin-clientd status|offline|online`, or stop it with `sudo pin-clientd service stop`"},
		{Holder{}, false, "an unknown process holds /s/engine.lock; stop the other pin-clientd, service or PIN Client app for this operator"},
	} {
		err := &HeldError{ClientID: "op_x", Path: "/s/engine.lock", Holder: tc.h, HolderKnown: tc.known}
		if got := err.Error(); got != pre+tc.want {
			t.Errorf("\n got %s\nwant %s", got, pre+tc.want)
		}
	}
}

func TestUserStateDir(t *testing.T) {
	d := t.TempDir()
	t.Setenv("XDG_STATE_HOME", d)
	t.Setenv("HOME", filepath.Join(d, "home"))
	got, err := UserStateDir()
	if err != nil || got != filepath.Join(d, "pin-client") {
		t.Errorf("with XDG_STATE_HOME: %q %v", got, err)
	}
	t.Setenv("XDG_STATE_HOME", "")
	got, err = UserStateDir()
	if err != nil || got != filepath.Join(d, "home", ".local", "state", "pin-client") {
		t.Errorf("without XDG_STATE_HOME: %q %v", got, err)
	}
	if SystemStateDir() != "/var/lib/pin-clientd" {
		t.Errorf("SystemStateDir = %q", SystemStateDir())
	}
}

// The child half of TestLockDiesWithProcess: take the lock, say so, wait to be killed.
func TestHelperHoldLock(t *testing.T) {
	dir := os.Getenv("ENGINELOCK_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process for TestLockDiesWithProcess")
	}
	if _, err := Acquire(dir, testID, Holder{Kind: KindDaemon, Scope: ScopeUser}); err != nil {
		os.Stdout.WriteString("error: " + err.Error() + "\n")
		os.Exit(2)
	}
	os.Stdout.WriteString("ready\n")
	select {} // until SIGKILL
}

func TestLockDiesWithProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ENGINELOCK_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("child: %q %v", line, err)
	}

	_, err = Acquire(dir, testID, Holder{Kind: KindDaemon})
	var he *HeldError
	if !errors.As(err, &he) || he.Holder.PID != cmd.Process.Pid {
		t.Fatalf("while the child holds it: %v (holder %+v)", err, he)
	}

	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no chance to clean up
		t.Fatal(err)
	}
	cmd.Wait()
	// The side file is stale now, but the lock is gone with the process.
	l, err := Acquire(dir, testID, Holder{Kind: KindDaemon})
	if err != nil {
		t.Fatalf("after kill -9: %v", err)
	}
	defer l.Release()
	if h, held, _ := Check(dir, testID); !held || h.PID != os.Getpid() {
		t.Errorf("side file not rewritten: %+v", h)
	}
}
