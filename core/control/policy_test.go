package control

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const procStatus = `Name:	pin-client
Umask:	0022
State:	S (sleeping)
Pid:	4242
Uid:	1001	1001	1001	1001
Gid:	1001	1001	1001	1001
FDSize:	64
Groups:	4 24 998 1001 
NStgid:	4242
`

func TestParseGroups(t *testing.T) {
	gs, err := parseGroups(procStatus)
	if err != nil || !slices.Equal(gs, []int{4, 24, 998, 1001}) {
		t.Fatalf("parseGroups = %v, %v; want [4 24 998 1001]", gs, err)
	}
	gs, err = parseGroups("Name:\tx\nGroups:\t\nPid:\t1\n")
	if err != nil || len(gs) != 0 {
		t.Errorf("empty Groups: = %v, %v; want none", gs, err)
	}
	if _, err := parseGroups("Name:\tx\n"); err == nil {
		t.Error("a text without Groups: parsed")
	}
	if _, err := parseGroups("Groups:\t4 x\n"); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("a bad group id: err = %v", err)
	}
}

func TestPolicyCheck(t *testing.T) {
	fromProc := func(text string) func(int) ([]int, error) {
		return func(pid int) ([]int, error) {
			if pid != 4242 {
				t.Errorf("groups asked for pid %d, want 4242", pid)
			}
			return parseGroups(text)
		}
	}
	noCall := func(int) ([]int, error) {
		t.Error("groups read when the uid or primary gid decides")
		return nil, errors.New("unexpected")
	}
	for _, tc := range []struct {
		name   string
		p      Policy
		c      PeerCred
		groups func(int) ([]int, error)
		ok     bool
	}{
		{"self", Policy{Self: 1000, GID: -1}, PeerCred{UID: 1000, GID: 1000, PID: 4242}, noCall, true},
		{"root", Policy{Self: 1000, GID: -1}, PeerCred{UID: 0, GID: 0, PID: 4242}, noCall, true},
		{"other uid", Policy{Self: 1000, GID: -1}, PeerCred{UID: 1001, GID: 1001, PID: 4242}, noCall, false},
		{"other uid, group unset", Policy{Self: 1000, GID: -1}, PeerCred{UID: 1001, GID: 998, PID: 4242}, noCall, false},
		{"primary group", Policy{Self: 0, GID: 998}, PeerCred{UID: 1001, GID: 998, PID: 4242}, noCall, true},
		{"supplementary group", Policy{Self: 0, GID: 998}, PeerCred{UID: 1001, GID: 1001, PID: 4242}, fromProc(procStatus), true},
		{"not in group", Policy{Self: 0, GID: 999}, PeerCred{UID: 1001, GID: 1001, PID: 4242}, fromProc(procStatus), false},
		{"groups unreadable", Policy{Self: 0, GID: 998}, PeerCred{UID: 1001, GID: 1001, PID: 4242}, fromProc("Name:\tgone\n"), false},
		{"groups from the credentials (macOS)", Policy{Self: 0, GID: 998}, PeerCred{UID: 1001, GID: 20, PID: 4242, Groups: []int{20, 998}}, noCall, true},
		{"credential groups without it", Policy{Self: 0, GID: 998}, PeerCred{UID: 1001, GID: 20, PID: 4242, Groups: []int{20}}, noCall, false},
		{"no pid, no groups", Policy{Self: 0, GID: 998}, PeerCred{UID: 1001, GID: 20}, noCall, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.check(tc.c, tc.groups)
			if (err == nil) != tc.ok {
				t.Fatalf("check = %v, want allowed=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "uid 1001") {
				t.Errorf("refusal %q does not name the peer's uid", err)
			}
		})
	}
}

func TestDefaultPaths(t *testing.T) {
	t.Setenv(SocketEnv, "")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	ps := DefaultPaths()
	if len(ps) != 2 || ps[0] != SystemSocketPath() || ps[1] != UserSocketPath() {
		t.Fatalf("DefaultPaths = %v, want system then user", ps)
	}
	t.Setenv(SocketEnv, "/tmp/x/engine.sock")
	if p := UserSocketPath(); p != "/tmp/x/engine.sock" {
		t.Errorf("UserSocketPath with %s = %q", SocketEnv, p)
	}
	t.Setenv(SocketEnv, SystemSocketPath())
	if ps := DefaultPaths(); len(ps) != 1 {
		t.Errorf("DefaultPaths with user = system: %v, want one path", ps)
	}
}
