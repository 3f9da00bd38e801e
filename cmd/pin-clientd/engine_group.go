package main

import (
	"os/user"
	"strconv"

	"github.com/pin-client/pin-client/core/control"
)

// serviceGroupName is the group whose members may use the system service's control
// endpoint (besides root). Without such a group only root can.
const serviceGroupName = "pin-client"

// serviceGroup is the gid of serviceGroupName for the system scope, or -1.
func serviceGroup(scope string) int {
	if scope != control.ScopeSystem {
		return -1
	}
	g, err := user.LookupGroup(serviceGroupName)
	if err != nil {
		return -1
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1
	}
	return gid
}
