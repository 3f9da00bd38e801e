package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
)

// EnvSecret is the environment variable the daemon reads the secret from first.
const EnvSecret = "PIN_API_SECRET"

// lookupSecret finds the secret for cfg as the daemon would. Without a SecretStore
// (tests) only the environment and apiSecret in config.json are consulted. Off the UI
// thread: the keyring may block.
func (u *UI) lookupSecret(cfg *config.Config) (protocol.Secret, string, error) {
	return findSecret(u.opts.Secrets, cfg, u.configPath())
}

// findSecret is lookupSecret for the config at path, with secrets (nil: the environment
// and apiSecret only). Off the UI thread.
func findSecret(secrets SecretStore, cfg *config.Config, path string) (protocol.Secret, string, error) {
	if secrets != nil {
		return secrets.Lookup(cfg.ClientID, cfg.APISecret, path)
	}
	if v := os.Getenv(EnvSecret); v != "" {
		return protocol.NewSecret(v), "environment variable " + EnvSecret, nil
	}
	if cfg.APISecret != "" {
		return protocol.NewSecret(cfg.APISecret), "apiSecret in " + path, nil
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

// saveConfig writes cfg to path: the app's config.json (the folder is created), or the
// config file an attached engine reads. The secret is written only when keepSecret is
// set (an apiSecret the engine's own file already held). Off the UI thread.
func (u *UI) saveConfig(cfg *config.Config, path string, keepSecret bool) error {
	if path == "" {
		return errors.New("no user config directory; set $HOME (or $XDG_CONFIG_HOME)")
	}
	if path == u.configPath() {
		if err := os.MkdirAll(u.opts.ConfigDir, 0o700); err != nil {
			return fmt.Errorf("create config folder: %w", err)
		}
	}
	return saveError(cfg.Save(path, keepSecret), path, path != u.configPath())
}

// saveError explains a failed save of path; foreign is set when path is another
// engine's config (a system service's, owned by root). nil stays nil.
func saveError(err error, path string, foreign bool) error {
	switch {
	case err == nil:
		return nil
	case foreign && errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("cannot write %s (the config the running engine reads): permission denied; edit it as root (e.g. `sudo nano %s`), then run `sudo pin-clientd reload`", path, path)
	default:
		return fmt.Errorf("save %s: %w", path, err)
	}
}

// configured switches to a freshly saved config at path. An attached engine is asked
// to reload it (it drains running jobs, then reconnects); otherwise the app's own engine
// drains and stops and a new one starts online. UI thread.
func (u *UI) configured(cfg *config.Config, secret protocol.Secret, source, path string) {
	if path == u.configPath() {
		u.cfg = cfg
	}
	u.message = ""
	u.heldRetried = false
	u.showDashboard()
	if a := u.remote; a != nil {
		name := u.engineShown().Name()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
			defer cancel()
			err := a.r.Reload(ctx)
			u.do(func() {
				if err != nil {
					u.showError(fmt.Errorf("saved %s, but the %s did not reload it: %w", path, name, err))
				}
			})
		}()
		return
	}
	u.fa.Preferences().SetBool(prefWantOnline, true)
	u.stopEngine(func() {
		if !u.quitting && u.remote == nil {
			u.launch(cfg, secret, source, true)
		}
	})
}

// settingsTarget is the config Settings edits and where Save writes it: the config file
// of the attached engine when it reads another file than the app's (falling back to the
// app's config for the form when that file cannot be read), else the app's config.json.
// UI thread; it reads a small file.
func (u *UI) settingsTarget() (*config.Config, string) {
	a := u.remote
	if a == nil || a.info.ConfigPath == "" || a.info.ConfigPath == u.configPath() {
		return u.cfg, u.configPath()
	}
	cfg, _, err := config.Load(a.info.ConfigPath, u.log)
	if err != nil {
		u.log.Warn("cannot read the attached engine's config; showing the app's", "path", a.info.ConfigPath, "err", err)
		return u.cfg, a.info.ConfigPath
	}
	return cfg, a.info.ConfigPath
}
