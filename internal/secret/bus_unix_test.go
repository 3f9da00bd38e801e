//go:build linux || freebsd || openbsd || netbsd || dragonfly

package secret

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pin-client/pin-client/core/protocol"
	"github.com/zalando/go-keyring"
)

// TestNoSessionBus: without a session bus the OS keyring is not tried at all (godbus
// would run dbus-launch and leave a dbus-daemon behind), and Save falls back to a file.
// The bus is found through DBUS_SESSION_BUS_ADDRESS or a socket in the runtime
// directory, both faked here: the expectation never comes from sessionBus itself.
func TestNoSessionBus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		addr    string // DBUS_SESSION_BUS_ADDRESS
		socket  string // file created in the fake /run/user/<uid>
		want    Kind
		keyring bool // the secret ends up in the (mock) keyring
	}{
		{"no bus", "", "", FromFile, false},
		{"autolaunch is no bus", "autolaunch:", "", FromFile, false},
		{"bus address", "unix:path=/x", "", FromKeyring, true},
		{"bus socket", "", "bus", FromKeyring, true},
		{"dbus-session socket", "", "dbus-session", FromKeyring, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, nil)
			s.Getenv = func(k string) string {
				if k == "DBUS_SESSION_BUS_ADDRESS" {
					return tc.addr
				}
				return ""
			}
			dir := t.TempDir()
			if tc.socket != "" {
				if err := os.WriteFile(filepath.Join(dir, tc.socket), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			old := runUserDir
			runUserDir = func() string { return dir }
			t.Cleanup(func() { runUserDir = old })

			src, err := s.Save(client, protocol.NewSecret(value))
			if err != nil || src.Kind != tc.want {
				t.Fatalf("Save = %v, %v; want %s", src, err, tc.want)
			}
			_, err = keyring.Get(KeyringService, client)
			if inKeyring := err == nil; inKeyring != tc.keyring {
				t.Errorf("secret in the keyring = %v (err %v), want %v", inKeyring, err, tc.keyring)
			}
			if !tc.keyring && !errors.Is(err, keyring.ErrNotFound) {
				t.Errorf("keyring.Get: %v, want not found", err)
			}
		})
	}
}
