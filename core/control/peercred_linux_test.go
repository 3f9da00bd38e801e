package control

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestPeerCredLinux(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	cc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc, _ := recv(t, accepted)
	if sc == nil {
		t.Fatal("accept failed")
	}
	defer sc.Close()
	pc, err := peerCred(sc)
	if err != nil {
		t.Fatal(err)
	}
	if pc.UID != os.Getuid() || pc.GID != os.Getgid() || pc.PID != os.Getpid() {
		t.Errorf("peer %+v, want uid %d gid %d pid %d", pc, os.Getuid(), os.Getgid(), os.Getpid())
	}
	gs, err := procGroups(os.Getpid())
	if err != nil {
		t.Fatalf("own groups from /proc: %v", err)
	}
	want, _ := os.Getgroups()
	if len(gs) != len(want) {
		t.Errorf("groups %v, want %v", gs, want)
	}
	if _, err := peerCred(&net.TCPConn{}); err == nil {
		t.Error("credentials of a TCP connection")
	}
}
