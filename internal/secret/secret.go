// Package secret finds and stores the operator's API secret (pin_sk_…) without ever
// printing it (design.md §4).
//
// The daemon looks in this order and uses the first hit:
//
//  1. the PIN_API_SECRET environment variable;
//  2. apiSecret in config.json (seed compatibility; a warning when the file is readable
//     by group or others);
//  3. the OS keyring: service "pin-client", account = clientId (the names the Tauri
//     pin-client used, so its users carry over);
//  4. a secret file readable only by its owner: the file named by PIN_SECRET_FILE (the
//     service installer sets it on macOS and Windows), the systemd credential
//     $CREDENTIALS_DIRECTORY/pin-api-secret (the Linux system unit loads the service
//     file there with LoadCredential=), the per-user fallback file written when no
//     keyring is reachable, then the system service file.
//
// The value travels as protocol.Secret, which prints as "[redacted]"; Source says where it
// came from for the log and the status, never what it is.
package secret

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/pin-client/pin-client/core/protocol"
	"github.com/zalando/go-keyring"
)

// Names shared with the Tauri pin-client and with the service installer.
const (
	// KeyringService is the keyring service name; the account is the clientId.
	KeyringService = "pin-client"
	// EnvSecret holds the secret itself and wins over everything else.
	EnvSecret = "PIN_API_SECRET"
	// EnvSecretFile names a secret file to read (set by the service installer).
	EnvSecretFile = "PIN_SECRET_FILE"
	// ServiceFileName is the name of the system service's secret file in SystemDir.
	ServiceFileName = "pin-clientd.secret"
	// EnvCredentialsDir is set by systemd to the service's credentials directory.
	EnvCredentialsDir = "CREDENTIALS_DIRECTORY"
	// CredentialName is the systemd credential holding the secret (LoadCredential=
	// pin-api-secret:/etc/pin-client/pin-clientd.secret in the system unit).
	CredentialName = "pin-api-secret"
)

// DefaultTimeout bounds each keyring call: a keyring that never answers (a D-Bus
// activation that hangs, a locked keychain nobody unlocks) must not hang the daemon.
const DefaultTimeout = 15 * time.Second

var (
	// ErrNotFound means no source had a secret for the clientId.
	ErrNotFound = errors.New("no API secret found")
	// ErrKeyringUnavailable means the OS keyring could not be reached (no Secret Service
	// on the session bus, no session bus at all, a timeout).
	ErrKeyringUnavailable = errors.New("OS keyring unavailable")
)

// Kind is the kind of place a secret came from.
type Kind string

const (
	FromEnv     Kind = "env"
	FromConfig  Kind = "config"
	FromKeyring Kind = "keyring"
	FromFile    Kind = "file"
)

// Source says where a secret came from (or was stored): a kind plus, for config and
// file, the path and, for keyring, the account. It never holds the value.
type Source struct {
	Kind Kind
	Path string // config or file path; keyring account for FromKeyring
}

// String is a short operator-facing description, e.g. "OS keyring (pin-client/op_1)".
func (s Source) String() string {
	switch s.Kind {
	case FromEnv:
		return "environment variable " + EnvSecret
	case FromConfig:
		return "apiSecret in " + s.Path
	case FromKeyring:
		return "OS keyring (" + KeyringService + "/" + s.Path + ")"
	case FromFile:
		return "secret file " + s.Path
	}
	return "none"
}

// LogValue logs the source as a group of kind and path.
func (s Source) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", string(s.Kind)), slog.String("where", s.String()))
}

// Keyring is the part of the OS keyring the store uses; go-keyring's functions by
// default. Get returns keyring.ErrNotFound when there is no entry.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

type osKeyring struct{}

func (osKeyring) Get(s, u string) (string, error) { return keyring.Get(s, u) }
func (osKeyring) Set(s, u, p string) error        { return keyring.Set(s, u, p) }
func (osKeyring) Delete(s, u string) error        { return keyring.Delete(s, u) }

// Store finds, saves and deletes secrets. The zero value uses the OS keyring, the
// process environment and the platform's default folders. Fields are read-only after
// first use.
type Store struct {
	// Keyring is the keyring; nil: the OS keyring (go-keyring), which on Linux is used
	// only when a D-Bus session bus is known (see sessionBus).
	Keyring Keyring
	Timeout time.Duration       // per keyring call; 0: DefaultTimeout
	Getenv  func(string) string // nil: os.Getenv
	// UserDir is where the per-user fallback file goes; "": UserDir(Getenv).
	UserDir string
	// SystemDir holds the system service's secret file; "": SystemDir(Getenv).
	SystemDir string
	Log       *slog.Logger // nil: discard
}

func (s *Store) getenv(k string) string {
	if s.Getenv != nil {
		return s.Getenv(k)
	}
	return os.Getenv(k)
}

func (s *Store) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// UserDir is the per-user folder for the fallback secret file: the platform's user
// config folder plus "pin-client". Empty when the home folder is unknown.
func UserDir(getenv func(string) string) string {
	switch runtime.GOOS {
	case "windows":
		if d := getenv("AppData"); d != "" {
			return filepath.Join(d, "pin-client")
		}
		return ""
	case "darwin":
		if h := getenv("HOME"); h != "" {
			return filepath.Join(h, "Library", "Application Support", "pin-client")
		}
		return ""
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "pin-client")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "pin-client")
	}
	return ""
}

// SystemDir is the folder of the system service's secret file: /etc/pin-client on
// Unix, %ProgramData%\pin-client on Windows.
func SystemDir(getenv func(string) string) string {
	if runtime.GOOS == "windows" {
		d := getenv("ProgramData")
		if d == "" {
			d = `C:\ProgramData`
		}
		return filepath.Join(d, "pin-client")
	}
	return "/etc/pin-client"
}

func (s *Store) userDir() string {
	if s.UserDir != "" {
		return s.UserDir
	}
	return UserDir(s.getenv)
}

func (s *Store) systemDir() string {
	if s.SystemDir != "" {
		return s.SystemDir
	}
	return SystemDir(s.getenv)
}

// UserFile is the per-user fallback file for clientID ("" when the home is unknown).
func (s *Store) UserFile(clientID string) string {
	d := s.userDir()
	if d == "" {
		return ""
	}
	return filepath.Join(d, fileSafe(clientID)+".secret")
}

// ServiceFile is the system service's secret file.
func (s *Store) ServiceFile() string { return filepath.Join(s.systemDir(), ServiceFileName) }

// fileSafe keeps a clientId usable as a file name.
func fileSafe(id string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, id)
}

// Query names what Lookup looks for.
type Query struct {
	ClientID     string // required: the keyring account
	ConfigSecret string // apiSecret from config.json, if any
	ConfigPath   string // config.json, for the permission warning and Source
}

// Lookup finds the secret for q in the order of the package doc. Warnings (a config
// file or secret file readable by others, an unreachable keyring) go to s.Log. When
// nothing is found the error wraps ErrNotFound and says how to set one; it is one line.
func (s *Store) Lookup(q Query) (protocol.Secret, Source, error) {
	log := s.log()
	if v := strings.TrimSpace(s.getenv(EnvSecret)); v != "" {
		return protocol.NewSecret(v), Source{Kind: FromEnv}, nil
	}
	if v := strings.TrimSpace(q.ConfigSecret); v != "" {
		if q.ConfigPath != "" && readableByOthers(q.ConfigPath) {
			log.Warn("config file with apiSecret is readable by group or others; chmod 600 it or move the secret to the keyring with 'pin-clientd secret set'", "path", q.ConfigPath)
		}
		return protocol.NewSecret(v), Source{Kind: FromConfig, Path: q.ConfigPath}, nil
	}
	if q.ClientID == "" {
		return protocol.Secret{}, Source{}, fmt.Errorf("%w: clientId is empty; set it in config.json", ErrNotFound)
	}
	var notes []string
	v, err := s.keyringGet(q.ClientID)
	switch {
	case err == nil:
		return protocol.NewSecret(v), Source{Kind: FromKeyring, Path: q.ClientID}, nil
	case errors.Is(err, keyring.ErrNotFound):
	default:
		log.Debug("keyring lookup failed; trying the secret files", "err", err)
		notes = append(notes, "keyring unavailable")
	}
	for _, f := range s.files(q.ClientID) {
		sec, err := ReadFile(f.path)
		switch {
		case err == nil:
			if readableByOthers(f.path) {
				log.Warn("secret file is readable by group or others; chmod 600 it", "path", f.path)
			}
			return sec, Source{Kind: FromFile, Path: f.path}, nil
		case errors.Is(err, fs.ErrNotExist) && !f.explicit:
		case errors.Is(err, fs.ErrPermission) && !f.explicit:
			notes = append(notes, f.path+" not readable by this user")
		default:
			return protocol.Secret{}, Source{}, fmt.Errorf("read secret file: %w", err)
		}
	}
	hint := ""
	if len(notes) > 0 {
		hint = " (" + strings.Join(notes, "; ") + ")"
	}
	return protocol.Secret{}, Source{}, fmt.Errorf("%w for %s%s: run 'pin-clientd secret set', or set %s, or add apiSecret to config.json", ErrNotFound, q.ClientID, hint, EnvSecret)
}

type candidate struct {
	path     string
	explicit bool // named by PIN_SECRET_FILE: a missing file is an error
}

func (s *Store) files(clientID string) []candidate {
	var c []candidate
	if p := s.getenv(EnvSecretFile); p != "" {
		c = append(c, candidate{p, true})
	}
	if d := s.getenv(EnvCredentialsDir); d != "" && filepath.IsAbs(d) {
		c = append(c, candidate{filepath.Join(d, CredentialName), false})
	}
	if p := s.UserFile(clientID); p != "" {
		c = append(c, candidate{p, false})
	}
	return append(c, candidate{s.ServiceFile(), false})
}

// Save stores the secret for clientID in the OS keyring and reads it back to verify.
// When no keyring is reachable it writes the per-user fallback file instead (owner
// only), logs a warning naming the file, and returns a FromFile source: callers should
// tell the operator where it went.
func (s *Store) Save(clientID string, sec protocol.Secret) (Source, error) {
	src, err := s.SaveKeyring(clientID, sec)
	if err == nil || !errors.Is(err, ErrKeyringUnavailable) {
		return src, err
	}
	path := s.UserFile(clientID)
	if path == "" {
		return Source{}, fmt.Errorf("save secret: %w and no home folder for a fallback file", err)
	}
	if werr := WriteFile(path, sec); werr != nil {
		return Source{}, fmt.Errorf("save secret: keyring unavailable (%v), fallback file: %w", err, werr)
	}
	s.log().Warn("OS keyring unavailable; secret stored in a file readable only by you", "path", path, "err", err)
	return Source{Kind: FromFile, Path: path}, nil
}

// SaveKeyring stores the secret in the OS keyring only and verifies it by reading it
// back. An error wrapping ErrKeyringUnavailable means no keyring could be reached (the
// desktop app then refuses rather than fall back to a file).
func (s *Store) SaveKeyring(clientID string, sec protocol.Secret) (Source, error) {
	if clientID == "" {
		return Source{}, errors.New("save secret: clientId is empty; set it in config.json")
	}
	if sec.IsZero() {
		return Source{}, errors.New("save secret: the secret is empty")
	}
	err := s.keyringSet(clientID, sec.Reveal())
	switch {
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return Source{}, fmt.Errorf("save secret in keyring: %w", err)
	case err != nil:
		return Source{}, fmt.Errorf("%w: %v", ErrKeyringUnavailable, err)
	}
	got, gerr := s.keyringGet(clientID)
	switch {
	case gerr != nil:
		return Source{}, fmt.Errorf("verify keyring entry: %w", gerr)
	case got != sec.Reveal():
		return Source{}, errors.New("verify keyring entry: the value read back differs from the one stored; the keyring may be locked or read-only")
	}
	return Source{Kind: FromKeyring, Path: clientID}, nil
}

// Delete removes the secret for clientID from the keyring and the per-user fallback
// file. It returns what it removed (empty when there was nothing); a keyring that cannot
// be reached is not an error when nothing else failed. The system service file is
// left alone: DeleteFile it (the installer does on uninstall).
func (s *Store) Delete(clientID string) ([]Source, error) {
	if clientID == "" {
		return nil, errors.New("delete secret: clientId is empty; set it in config.json")
	}
	var removed []Source
	err := s.keyringDelete(clientID)
	switch {
	case err == nil:
		removed = append(removed, Source{Kind: FromKeyring, Path: clientID})
	case errors.Is(err, keyring.ErrNotFound):
	default:
		s.log().Debug("keyring delete failed", "err", err)
	}
	if p := s.UserFile(clientID); p != "" {
		ok, err := DeleteFile(p)
		if err != nil {
			return removed, err
		}
		if ok {
			removed = append(removed, Source{Kind: FromFile, Path: p})
		}
	}
	return removed, nil
}

// InKeyring reports whether the keyring holds a secret for clientID; err is non-nil
// (wrapping ErrKeyringUnavailable) when the keyring could not be asked.
func (s *Store) InKeyring(clientID string) (bool, error) {
	_, err := s.keyringGet(clientID)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, keyring.ErrNotFound):
		return false, nil
	}
	return false, err
}

func (s *Store) keyringGet(user string) (string, error) {
	var v string
	err := s.bounded(func(k Keyring) error {
		var err error
		v, err = k.Get(KeyringService, user)
		return err
	})
	return v, err
}

func (s *Store) keyringSet(user, pass string) error {
	return s.bounded(func(k Keyring) error { return k.Set(KeyringService, user, pass) })
}

func (s *Store) keyringDelete(user string) error {
	return s.bounded(func(k Keyring) error { return k.Delete(KeyringService, user) })
}

// bounded runs one keyring call with the timeout. Errors other than "not found" and
// "too big" are wrapped with ErrKeyringUnavailable. A call that times out keeps running
// in the background; its result is dropped.
func (s *Store) bounded(call func(Keyring) error) error {
	k := s.Keyring
	if k == nil {
		if !sessionBus(s.getenv) {
			return fmt.Errorf("%w: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)", ErrKeyringUnavailable)
		}
		k = osKeyring{}
	}
	d := s.Timeout
	if d <= 0 {
		d = DefaultTimeout
	}
	done := make(chan error, 1)
	go func() { done <- call(k) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, keyring.ErrNotFound) || errors.Is(err, keyring.ErrSetDataTooBig) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrKeyringUnavailable, err)
	case <-t.C:
		return fmt.Errorf("%w: no answer within %v", ErrKeyringUnavailable, d)
	}
}

// ReadFile reads a secret file: the secret on the first line, surrounding space ignored.
// An empty file is an error.
func ReadFile(path string) (protocol.Secret, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return protocol.Secret{}, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	v := strings.TrimSpace(line)
	if v == "" {
		return protocol.Secret{}, fmt.Errorf("secret file %s is empty; write the secret on its first line", path)
	}
	return protocol.NewSecret(v), nil
}

// WriteFile writes the secret to path, readable only by its owner (0600 on Unix; on
// Windows an ACL for the owner, SYSTEM and Administrators only), atomically. Missing
// folders are created owner-only.
func WriteFile(path string, sec protocol.Secret) error {
	if sec.IsZero() {
		return errors.New("write secret file: the secret is empty")
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write secret file: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write secret file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	err = restrict(f)
	if err == nil {
		_, err = f.WriteString(sec.Reveal() + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write secret file: %w", err)
	}
	return nil
}

// DeleteFile removes a secret file; ok reports whether there was one.
func DeleteFile(path string) (ok bool, err error) {
	err = os.Remove(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("delete secret file: %w", err)
}
