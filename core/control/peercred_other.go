//go:build !linux && !darwin

package control

import (
	"errors"
	"net"
)

// peerCred reports nothing on this OS (nil, nil): the endpoint's own protection decides
// who connects (a Windows pipe's security descriptor; elsewhere the socket's mode 0600
// and its 0700 directory), and Policy is not consulted.
func peerCred(net.Conn) (*PeerCred, error) { return nil, nil }

func procGroups(int) ([]int, error) { return nil, errors.New("not available on this OS") }
