package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary act as a client of the socket it names (see TestMain).
const childEnv = "PIN_CONTROL_TEST_CHILD"

func TestMain(m *testing.M) {
	if p := os.Getenv(childEnv); p != "" {
		os.Exit(childMain(p))
	}
	os.Exit(m.Run())
}

// childMain asks the engine at path for its info and prints what it got.
func childMain(path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := NewClient(path, nil).Info(ctx)
	var se *StatusError
	switch {
	case err == nil:
		fmt.Println("code=200")
	case errors.As(err, &se):
		fmt.Printf("code=%d msg=%s\n", se.Code, se.Message)
	default:
		fmt.Printf("err=%v\n", err)
	}
	return 0
}

// A process of another uid reaches the socket (its mode opened for the test) and is
// refused by the real SO_PEERCRED check. Only root can start a process as another uid;
// as any other user TestRefusedPeer refuses the real credentials instead.
func TestCrossUIDPeerRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another uid; TestRefusedPeer covers the refusal with real credentials")
	}
	const nobody = 65534
	h := serve(t, newFake(), nil)
	// Let the other uid reach the socket: only the peer check stands in its way.
	for d := filepath.Dir(h.path); d != filepath.Dir(filepath.Dir(filepath.Dir(h.path))); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(h.path, 0o666); err != nil {
		t.Fatal(err)
	}
	// The test binary lives in a 0700 build directory: copy it where nobody can run it.
	bin := filepath.Join(filepath.Dir(h.path), "control.test")
	copyFile(t, os.Args[0], bin)

	cmd := exec.Command(bin)
	cmd.Env = []string{childEnv + "=" + h.path}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "code=403 msg=permission denied: uid 65534") {
		t.Errorf("child of uid %d got %q, want 403 naming its uid", nobody, out)
	}
	ls := h.logs.lines("level=WARN", "refused a peer", "uid=65534", "pid="+strconv.Itoa(cmd.Process.Pid))
	if len(ls) != 1 {
		t.Errorf("want one warning naming uid 65534 and the child's pid %d:\n%s", cmd.Process.Pid, h.logs)
	}

	// The same child as root is let in (root may always connect).
	cmd = exec.Command(bin)
	cmd.Env = []string{childEnv + "=" + h.path}
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "code=200\n" {
		t.Errorf("child as root: %v %q", err, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
