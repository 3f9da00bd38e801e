// Package enginelock enforces one engine per operator per machine: whichever process
// runs an engine (the background service, pin-clientd in a terminal, the desktop app)
// first takes an exclusive OS file lock keyed by the operator's clientId. The OS drops
// the lock when the process dies, so a crash or kill -9 leaves no stale lock behind.
//
// Who holds the lock is written to a side file next to it (engine-<id>.json) after the
// lock is taken, so a refused second engine can name the holder and say how to stop it
// or attach to it. The side file is information only: the lock file alone decides.
package enginelock

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Holder kinds and scopes.
const (
	KindService = "service" // the installed background service
	KindDaemon  = "daemon"  // pin-clientd run in a terminal
	KindApp     = "app"     // the desktop app's own engine

	ScopeUser   = "user"
	ScopeSystem = "system"
)

// Holder describes the process that holds the lock.
type Holder struct {
	Kind       string    `json:"kind"`  // KindService, KindDaemon or KindApp
	Scope      string    `json:"scope"` // ScopeUser or ScopeSystem
	PID        int       `json:"pid"`
	Started    time.Time `json:"started"`
	Socket     string    `json:"socket,omitempty"` // its control endpoint (Unix socket or named pipe)
	ClientID   string    `json:"clientId"`
	ConfigPath string    `json:"configPath,omitempty"`
}

// Lock is a held engine lock. Release gives it back; the OS does so when the process ends.
type Lock struct {
	path, info string
	once       sync.Once
	f          *os.File // guarded by once: closed by Release
	err        error
}

// Path is the lock file's path.
func (l *Lock) Path() string { return l.path }

// Release removes the side file and drops the lock. It is idempotent: later calls return
// the first call's result. The lock file itself stays (removing it would race with a
// process that opened it and is about to lock it).
func (l *Lock) Release() error {
	l.once.Do(func() {
		if err := os.Remove(l.info); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.err = fmt.Errorf("release engine lock: %w", err)
		}
		unlockFile(l.f)
		if err := l.f.Close(); err != nil && l.err == nil {
			l.err = fmt.Errorf("release engine lock: %w", err)
		}
	})
	return l.err
}

// HeldError is returned by Acquire when another process holds the lock. Holder is
// best-effort, read from the side file; HolderKnown is false when it could not be read
// (the holder is still starting, or a pre-side-file version holds it).
type HeldError struct {
	ClientID    string
	Path        string // the lock file
	Holder      Holder
	HolderKnown bool
}

func (e *HeldError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "another engine already serves operator %s on this machine: ", e.ClientID)
	h := e.Holder
	if !e.HolderKnown {
		fmt.Fprintf(&b, "an unknown process holds %s; stop the other pin-clientd, service or PIN Client app for this operator", e.Path)
		return b.String()
	}
	since := ""
	if !h.Started.IsZero() {
		since = ", since " + h.Started.Local().Format("15:04")
	}
	switch h.Kind {
	case KindService:
		stop := "`pin-clientd service stop --user`"
		if h.Scope == ScopeSystem {
			stop = "`sudo pin-clientd service stop`"
			if runtime.GOOS == "windows" {
				stop = "`pin-clientd service stop` as Administrator"
			}
		}
		fmt.Fprintf(&b, "the background service (PID %d%s); control it with `pin-clientd status|offline|online`, or stop it with %s", h.PID, since, stop)
	case KindApp:
		fmt.Fprintf(&b, "the PIN Client desktop app (PID %d%s); quit it from its tray menu", h.PID, since)
	default:
		fmt.Fprintf(&b, "pin-clientd in a terminal (PID %d%s); stop it with Ctrl-C or kill %d", h.PID, since, h.PID)
	}
	return b.String()
}

// ErrHeld matches a *HeldError with errors.Is.
var ErrHeld = errors.New("engine lock held")

// Is makes errors.Is(err, ErrHeld) true for a *HeldError.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// errWouldBlock is what tryLock returns when another open file holds the lock.
var errWouldBlock = errors.New("lock held by another process")

// fileID is clientID made filename-safe plus a short hash of it (two ids that differ only
// in unsafe characters get different files).
func fileID(clientID string) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			return r
		}
		return '_'
	}, clientID)
	if len(safe) > 64 {
		safe = safe[:64]
	}
	sum := sha256.Sum256([]byte(clientID))
	return safe + "-" + hex.EncodeToString(sum[:4])
}

func paths(dir, clientID string) (lock, info string) {
	id := fileID(clientID)
	return filepath.Join(dir, "engine-"+id+".lock"), filepath.Join(dir, "engine-"+id+".json")
}

// Acquire takes the exclusive engine lock for clientID in dir (created 0700 if missing)
// and records h (ClientID filled in) in the side file. It never blocks: when another
// process holds the lock it returns a *HeldError at once.
func Acquire(dir, clientID string, h Holder) (*Lock, error) {
	if strings.TrimSpace(clientID) == "" {
		return nil, errors.New("engine lock: clientId is empty; set clientId in config.json")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("engine lock: create state directory: %w", err)
	}
	lockPath, infoPath := paths(dir, clientID)
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("engine lock: %w", err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			he := &HeldError{ClientID: clientID, Path: lockPath}
			he.Holder, he.HolderKnown = readHolder(infoPath)
			return nil, he
		}
		return nil, fmt.Errorf("engine lock %s: %w", lockPath, err)
	}
	h.ClientID = clientID
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.Started.IsZero() {
		h.Started = time.Now()
	}
	l := &Lock{path: lockPath, info: infoPath, f: f}
	if err := writeHolder(infoPath, h); err != nil {
		l.Release()
		return nil, fmt.Errorf("engine lock: write holder: %w", err)
	}
	return l, nil
}

// Check reports whether the lock for clientID is held right now, and by whom
// (best-effort), without keeping it: it tries the lock and releases it at once.
// A missing dir or lock file means not held. It opens the lock file read-only, so it works
// for any user who can read the directory. For the instant Check holds the lock, an
// Acquire elsewhere would be refused: use it for display, not in a loop.
func Check(dir, clientID string) (h Holder, held bool, err error) {
	lockPath, infoPath := paths(dir, clientID)
	f, err := os.Open(lockPath)
	if errors.Is(err, os.ErrNotExist) {
		return Holder{}, false, nil
	}
	if err != nil {
		return Holder{}, false, fmt.Errorf("check engine lock: %w", err)
	}
	defer f.Close()
	if err := tryLock(f); err != nil {
		if errors.Is(err, errWouldBlock) {
			h, _ = readHolder(infoPath)
			return h, true, nil
		}
		return Holder{}, false, fmt.Errorf("check engine lock %s: %w", lockPath, err)
	}
	unlockFile(f)
	return Holder{}, false, nil
}

// writeHolder writes h atomically (temp file + rename), readable by the owner only.
func writeHolder(path string, h Holder) error {
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".engine-*.json")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(append(data, '\n'))
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
	}
	return werr
}

func readHolder(path string) (Holder, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Holder{}, false
	}
	var h Holder
	if json.Unmarshal(data, &h) != nil || h.PID == 0 {
		return Holder{}, false
	}
	return h, true
}
