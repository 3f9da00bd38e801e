package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
)

// EnvSecret is the environment variable the daemon reads the secret from first.
const EnvSecret = "PIN_API_SECRET"

// lookupSecret finds the secret for cfg as the daemon would. Without a SecretStore
// (tests) only the environment and apiSecret in config.json are consulted. Off the UI
// thread: the keyring may block.
func (u *UI) lookupSecret(cfg *config.Config) (protocol.Secret, string, error) {
	if u.opts.Secrets != nil {
		return u.opts.Secrets.Lookup(cfg.ClientID, cfg.APISecret, u.configPath())
	}
	if v := os.Getenv(EnvSecret); v != "" {
		return protocol.NewSecret(v), "environment variable " + EnvSecret, nil
	}
	if cfg.APISecret != "" {
		return protocol.NewSecret(cfg.APISecret), "apiSecret in " + u.configPath(), nil
	}
	return protocol.Secret{}, "", fmt.Errorf("no API secret for %s; open Settings and paste it", cfg.ClientID)
}

// storeSecret puts the secret for clientID in the keyring (verified by reading it
// back). typed is what the operator entered; empty means keep the one already stored,
// or move fromFile (an apiSecret found in config.json) into the keyring. Off the UI
// thread. Errors name the field and never contain the secret.
func (u *UI) storeSecret(clientID, typed, fromFile string) (protocol.Secret, string, error) {
	if u.opts.Secrets == nil {
		return protocol.Secret{}, "", errors.New("apiSecret: no OS keyring is available to this app; run the pin-clientd daemon with PIN_API_SECRET instead")
	}
	want := typed
	if want == "" {
		want = fromFile
	}
	if want == "" {
		s, source, err := u.opts.Secrets.Lookup(clientID, "", "")
		if err != nil {
			return protocol.Secret{}, "", fmt.Errorf("apiSecret: none stored for %s; paste your API secret", clientID)
		}
		return s, source, nil
	}
	s := protocol.NewSecret(want)
	source, err := u.opts.Secrets.Store(clientID, s)
	if err != nil {
		return protocol.Secret{}, "", fmt.Errorf("apiSecret: %w", err)
	}
	return s, source, nil
}

// saveConfig writes cfg (never with a secret) to the app's config.json, creating the
// folder. Off the UI thread.
func (u *UI) saveConfig(cfg *config.Config) error {
	if u.opts.ConfigDir == "" {
		return errors.New("no user config directory; set $HOME (or $XDG_CONFIG_HOME)")
	}
	if err := os.MkdirAll(u.opts.ConfigDir, 0o700); err != nil {
		return fmt.Errorf("create config folder: %w", err)
	}
	if err := cfg.Save(filepath.Join(u.opts.ConfigDir, "config.json"), false); err != nil {
		return fmt.Errorf("save %s: %w", u.configPath(), err)
	}
	return nil
}

// configured switches to a freshly saved config: the old engine drains and stops, a new
// one starts online, and the dashboard shows it. UI thread.
func (u *UI) configured(cfg *config.Config, secret protocol.Secret, source string) {
	u.cfg = cfg
	u.message = ""
	u.fa.Preferences().SetBool(prefWantOnline, true)
	u.showDashboard()
	u.stopEngine(func() {
		if !u.quitting {
			u.launch(cfg, secret, source, true)
		}
	})
}
