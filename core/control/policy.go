package control

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Policy says which peers may use the API: those whose uid is Self or 0 (root), and,
// when GID >= 0, members of group GID (the system service's `pin-client` group): the
// peer's primary gid, or on Linux its supplementary groups from /proc/<pid>/status, or
// on macOS the groups LOCAL_PEERCRED reports. On Windows the pipe's security descriptor
// does the job and Policy is not consulted.
type Policy struct {
	Self int // uid of the engine's user
	GID  int // a group whose members may connect too; -1 none
}

// DefaultPolicy admits the current user and root: Self = os.Getuid(), GID = -1.
func DefaultPolicy() Policy { return Policy{Self: os.Getuid(), GID: -1} }

// PeerCred is what the OS says about the process at the other end of a connection.
type PeerCred struct {
	UID, GID, PID int // PID is 0 when the OS does not say
	// Groups are the peer's supplementary groups when the OS reports them with the
	// credentials (macOS); nil on Linux, where they are read from /proc only if needed.
	Groups []int
}

// check decides whether the peer c may use the API: nil, or an error saying why not.
// groups returns the supplementary groups of a pid; it is called only when the group
// decides (c is neither Self nor root, and its primary gid is not GID), and may be nil.
func (p Policy) check(c PeerCred, groups func(pid int) ([]int, error)) error {
	if c.UID == p.Self || c.UID == 0 {
		return nil
	}
	if p.GID < 0 {
		return fmt.Errorf("uid %d is neither the engine's user (uid %d) nor root", c.UID, p.Self)
	}
	if c.GID == p.GID {
		return nil
	}
	gs := c.Groups
	if gs == nil && groups != nil && c.PID > 0 {
		var err error
		if gs, err = groups(c.PID); err != nil {
			return fmt.Errorf("uid %d is neither the engine's user (uid %d) nor root, and its groups are unknown: %v", c.UID, p.Self, err)
		}
	}
	for _, g := range gs {
		if g == p.GID {
			return nil
		}
	}
	return fmt.Errorf("uid %d is neither the engine's user (uid %d), root nor a member of group %d", c.UID, p.Self, p.GID)
}

// parseGroups reads the "Groups:" line of a /proc/<pid>/status text: the process's
// supplementary group ids. A text without that line is an error.
func parseGroups(status string) ([]int, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "Groups:")
		if !ok {
			continue
		}
		gs := []int{}
		for _, f := range strings.Fields(rest) {
			g, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("groups line: %q is not a group id", f)
			}
			gs = append(gs, g)
		}
		return gs, nil
	}
	return nil, fmt.Errorf("no Groups: line")
}
