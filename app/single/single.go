// Package single keeps one desktop app per user. The first instance listens on a Unix
// socket in the app's config folder; a later one connects, asks it to show its window,
// and gets ErrRunning so it can exit. Two apps would run two engines with the same
// credentials, which fight over one operator session at the gateway (design.md §1).
//
// No Fyne import: plain Go with plain tests.
package single

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrRunning means another instance holds the socket; it was asked to show itself.
var ErrRunning = errors.New("PIN Client is already running; its window was brought to the front")

// ioTimeout bounds each exchange between instances.
const ioTimeout = 2 * time.Second

// Claim makes this process the running instance, listening at path (created with its
// folder). onShow is called, from the listener's goroutine, each time another instance
// starts. release stops listening and removes the socket. With another instance alive
// Claim returns ErrRunning. A socket left by a crashed instance is replaced.
func Claim(path string, onShow func()) (release func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("single instance: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		if askShow(path) == nil {
			return nil, ErrRunning
		}
		// Nobody answers: a stale socket from an instance that crashed.
		_ = os.Remove(path)
		if ln, err = net.Listen("unix", path); err != nil {
			return nil, fmt.Errorf("single instance: %w", err)
		}
	}
	done := make(chan struct{})
	go serve(ln, onShow, done)
	return func() {
		ln.Close() // removes the socket file
		<-done
	}, nil
}

func serve(ln net.Listener, onShow func(), done chan<- struct{}) {
	defer close(done)
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_ = c.SetDeadline(time.Now().Add(ioTimeout))
		line, _ := bufio.NewReader(c).ReadString('\n')
		if strings.TrimSpace(line) == "show" {
			onShow()
			_, _ = c.Write([]byte("ok\n"))
		}
		c.Close()
	}
}

// askShow asks the instance at path to show itself; nil when it confirmed.
func askShow(path string) error {
	c, err := net.DialTimeout("unix", path, ioTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write([]byte("show\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "ok" {
		return errors.New("unexpected answer")
	}
	return nil
}
