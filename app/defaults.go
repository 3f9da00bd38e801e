package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/pin-client/pin-client/app/autostart"
	"github.com/pin-client/pin-client/backends/detect"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/nodecheck"
	"github.com/pin-client/pin-client/internal/secret"
)

// Defaults are the real collaborators: the relay engine run by internal/host, the control
// API client that finds a running engine, the OS keyring, local server detection, the
// daemon's service installer, the XDG autostart entry. Fields the caller set in opts are kept.
func Defaults(opts Options) Options {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Secrets == nil {
		opts.Secrets = KeyringStore{S: &secret.Store{Log: log}}
	}
	if opts.NewEngine == nil {
		opts.NewEngine = HostEngine(opts.Secrets)
	}
	if opts.Attach == nil {
		opts.Attach = AttachRunning(log)
	}
	if opts.Detect == nil {
		opts.Detect = Detect
	}
	if opts.Probe == nil {
		opts.Probe = ProbeNode
	}
	if opts.Installer == nil {
		opts.Installer = DaemonInstaller{}
	}
	if opts.Autostart == nil {
		if a, err := autostart.New("--background"); err == nil {
			opts.Autostart = a
		} else {
			log.Warn("start at login unavailable", "err", err)
		}
	}
	return opts
}

// KeyringStore is the SecretStore of internal/secret, restricted for the desktop app to
// the OS keyring when storing (design.md §4: the app writes the secret only there).
type KeyringStore struct{ S *secret.Store }

// Lookup finds the secret in the daemon's order (secret.Store.Lookup).
func (k KeyringStore) Lookup(clientID, configSecret, configPath string) (protocol.Secret, string, error) {
	s, src, err := k.S.Lookup(secret.Query{ClientID: clientID, ConfigSecret: configSecret, ConfigPath: configPath})
	if err != nil {
		return protocol.Secret{}, "", err
	}
	return s, src.String(), nil
}

// errNoKeyring is returned when no keyring could be reached.
var errNoKeyring = errors.New("no OS keyring is reachable; start or unlock your desktop keyring (Secret Service, e.g. gnome-keyring or KWallet) and save again")

// Store saves the secret in the keyring only and verifies it (secret.Store.SaveKeyring):
// the secret never lands on disk from here. No reachable keyring is an error that says
// what to start.
func (k KeyringStore) Store(clientID string, s protocol.Secret) (string, error) {
	src, err := k.S.SaveKeyring(clientID, s)
	if errors.Is(err, secret.ErrKeyringUnavailable) {
		return "", errNoKeyring
	}
	if err != nil {
		return "", err
	}
	return src.String(), nil
}

// Detect scans this machine for LLM servers (backends/detect, loopback only).
func Detect(ctx context.Context) []Found {
	var out []Found
	for _, s := range detect.Scan(ctx, detect.Options{}) {
		f := Found{Kind: s.Kind.Name(), URL: s.URL, APIMode: s.APIMode, Capacity: s.Parallel}
		for _, m := range s.ChatModels() {
			f.Models = append(f.Models, m.Name)
		}
		if s.Err != nil {
			f.Note = s.Err.Error()
		}
		out = append(out, f)
	}
	return out
}

// ProbeNode checks a node's backend for the Test button (nodecheck.Check): its chat
// models and what is wrong with it, with fixes.
func ProbeNode(ctx context.Context, n config.Node) Probe {
	r := nodecheck.Check(ctx, n, detect.Options{})
	p := Probe{Models: r.ChatModels(), Blocking: !r.OK()}
	for _, pr := range r.Problems {
		p.Problems = append(p.Problems, pr.String())
	}
	return p
}
