//go:build darwin

package control

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerCred reads LOCAL_PEERCRED (uid and groups, the first being the effective gid) and
// LOCAL_PEERPID of a Unix socket connection. Any other connection is an error.
func peerCred(c net.Conn) (*PeerCred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("peer credentials: %T is not a Unix socket connection", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("peer credentials: %w", err)
	}
	var xu *unix.Xucred
	var pid int
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		xu, cerr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if cerr == nil {
			pid, _ = unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID) // 0 when unknown
		}
	}); err != nil {
		return nil, fmt.Errorf("peer credentials: %w", err)
	}
	if cerr != nil {
		return nil, fmt.Errorf("peer credentials: LOCAL_PEERCRED: %w", cerr)
	}
	pc := &PeerCred{UID: int(xu.Uid), GID: -1, PID: pid, Groups: []int{}}
	n := min(max(int(xu.Ngroups), 0), len(xu.Groups))
	for i, g := range xu.Groups[:n] {
		if i == 0 {
			pc.GID = int(g)
		}
		pc.Groups = append(pc.Groups, int(g))
	}
	return pc, nil
}

// procGroups is not needed on macOS: LOCAL_PEERCRED carries the groups.
func procGroups(int) ([]int, error) { return nil, fmt.Errorf("not available on macOS") }
