package app

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/secret"
	"github.com/zalando/go-keyring"
)

const storeTestSecret = "pin_sk_store0123456789abcdef0123456789" // fake

// memKeyring is an in-memory secret.Keyring; setErr fails Set, readBack replaces what
// Get returns.
type memKeyring struct {
	m        map[string]string
	setErr   error
	readBack string
}

func (k *memKeyring) Set(s, u, p string) error {
	if k.setErr != nil {
		return k.setErr
	}
	if k.m == nil {
		k.m = map[string]string{}
	}
	k.m[s+"/"+u] = p
	return nil
}

func (k *memKeyring) Get(s, u string) (string, error) {
	v, ok := k.m[s+"/"+u]
	if !ok {
		return "", keyring.ErrNotFound
	}
	if k.readBack != "" {
		return k.readBack, nil
	}
	return v, nil
}

func (k *memKeyring) Delete(s, u string) error { delete(k.m, s+"/"+u); return nil }

// newKeyringStore is the app's adapter over a fake keyring, an empty environment (plus
// env) and temp folders.
func newKeyringStore(t *testing.T, kr *memKeyring, env map[string]string) (KeyringStore, string) {
	t.Helper()
	dir := t.TempDir()
	return KeyringStore{S: &secret.Store{
		Keyring:   kr,
		Getenv:    func(k string) string { return env[k] },
		UserDir:   filepath.Join(dir, "user"),
		SystemDir: filepath.Join(dir, "system"),
	}}, dir
}

// noFiles fails when anything was written under dir: the app never puts the secret on disk.
func noFiles(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("file written: %s", p)
		}
		return nil
	})
}

func noSecretIn(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, storeTestSecret) {
			t.Fatalf("the secret appeared in %q", s)
		}
	}
}

func TestKeyringStoreStore(t *testing.T) {
	t.Run("stored and verified in the keyring", func(t *testing.T) {
		kr := &memKeyring{}
		k, dir := newKeyringStore(t, kr, nil)
		src, err := k.Store("op_app", protocol.NewSecret(storeTestSecret))
		if err != nil || src != "OS keyring (pin-client/op_app)" {
			t.Fatalf("Store = %q, %v", src, err)
		}
		if kr.m["pin-client/op_app"] != storeTestSecret {
			t.Fatalf("keyring holds %v", kr.m)
		}
		noFiles(t, dir)
		noSecretIn(t, src)
	})
	t.Run("no keyring: an error saying what to start, no file", func(t *testing.T) {
		k, dir := newKeyringStore(t, &memKeyring{setErr: errors.New("dbus: no session bus")}, nil)
		_, err := k.Store("op_app", protocol.NewSecret(storeTestSecret))
		if !errors.Is(err, errNoKeyring) {
			t.Fatalf("err = %v, want errNoKeyring", err)
		}
		noFiles(t, dir)
		noSecretIn(t, err.Error())
	})
	t.Run("read-back differs", func(t *testing.T) {
		k, dir := newKeyringStore(t, &memKeyring{readBack: "pin_sk_other"}, nil)
		_, err := k.Store("op_app", protocol.NewSecret(storeTestSecret))
		if err == nil || errors.Is(err, errNoKeyring) || !strings.Contains(err.Error(), "verify keyring entry") {
			t.Fatalf("err = %v, want a verification error", err)
		}
		noFiles(t, dir)
		noSecretIn(t, err.Error())
	})
}

func TestKeyringStoreLookup(t *testing.T) {
	kr := &memKeyring{m: map[string]string{"pin-client/op_app": storeTestSecret}}
	k, _ := newKeyringStore(t, kr, nil)
	s, src, err := k.Lookup("op_app", "", "")
	if err != nil || s.Reveal() != storeTestSecret || src != "OS keyring (pin-client/op_app)" {
		t.Fatalf("keyring lookup = %q, %v", src, err)
	}
	// The daemon's order: the environment before the keyring, config.json next.
	k, _ = newKeyringStore(t, kr, map[string]string{"PIN_API_SECRET": "pin_sk_from_env"})
	if s, src, err := k.Lookup("op_app", "", ""); err != nil || s.Reveal() != "pin_sk_from_env" || src != "environment variable PIN_API_SECRET" {
		t.Fatalf("env lookup = %q, %v", src, err)
	}
	k, _ = newKeyringStore(t, kr, nil)
	if s, src, err := k.Lookup("op_app", "pin_sk_from_config", "/cfg/config.json"); err != nil || s.Reveal() != "pin_sk_from_config" || !strings.Contains(src, "/cfg/config.json") {
		t.Fatalf("config lookup = %q, %v", src, err)
	}
	k, _ = newKeyringStore(t, &memKeyring{}, nil)
	_, _, err = k.Lookup("op_none", "", "")
	if !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("missing secret: %v", err)
	}
	noSecretIn(t, err.Error())
}
