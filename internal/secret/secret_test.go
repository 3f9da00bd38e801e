package secret

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pin-client/pin-client/core/protocol"
	"github.com/zalando/go-keyring"
)

const (
	client = "op_test"
	value  = "pin_sk_0123456789abcdef0123456789abcdef" // fake
)

// newStore returns a Store on go-keyring's mock provider, a fake environment and temp
// folders; buf collects its log.
func newStore(t *testing.T, env map[string]string) (*Store, *bytes.Buffer) {
	t.Helper()
	keyring.MockInit()
	if env == nil {
		env = map[string]string{}
	}
	env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/nonexistent/mock" // the mock needs no bus
	var buf bytes.Buffer
	dir := t.TempDir()
	return &Store{
		Getenv:    func(k string) string { return env[k] },
		UserDir:   filepath.Join(dir, "user"),
		SystemDir: filepath.Join(dir, "system"),
		Log:       slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, &buf
}

func noLeak(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, value) || strings.Contains(s, "sk_other") {
			t.Fatalf("secret leaked: %q", s)
		}
	}
}

func TestLookupOrder(t *testing.T) {
	type setup struct {
		env, config, keyring, envFile, credential, userFile, serviceFile bool
	}
	tests := []struct {
		name string
		have setup
		want Kind
		path string // "config", "envfile", "user", "service"
	}{
		{"env wins", setup{true, true, true, true, true, true, true}, FromEnv, ""},
		{"config next", setup{false, true, true, true, true, true, true}, FromConfig, "config"},
		{"keyring next", setup{false, false, true, true, true, true, true}, FromKeyring, ""},
		{"PIN_SECRET_FILE next", setup{false, false, false, true, true, true, true}, FromFile, "envfile"},
		{"systemd credential next", setup{false, false, false, false, true, true, true}, FromFile, "credential"},
		{"user file next", setup{false, false, false, false, false, true, true}, FromFile, "user"},
		{"service file last", setup{false, false, false, false, false, false, true}, FromFile, "service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			s, buf := newStore(t, env)
			dir := t.TempDir()
			paths := map[string]string{
				"config":     filepath.Join(dir, "config.json"),
				"envfile":    filepath.Join(dir, "explicit.secret"),
				"credential": filepath.Join(dir, "creds", CredentialName),
				"user":       s.UserFile(client),
				"service":    s.ServiceFile(),
			}
			// systemd sets CREDENTIALS_DIRECTORY whenever the unit has credentials.
			env[EnvCredentialsDir] = filepath.Dir(paths["credential"])
			// Each source holds a different value so the test sees which one was used.
			vals := map[string]string{}
			put := func(name, v string) { vals[name] = v }
			q := Query{ClientID: client, ConfigPath: paths["config"]}
			if tt.have.env {
				env[EnvSecret] = " pin_sk_env \n"
				put("", "pin_sk_env")
			}
			if tt.have.config {
				q.ConfigSecret = "pin_sk_config"
				os.WriteFile(paths["config"], []byte("{}"), 0o600)
				put("config", "pin_sk_config")
			}
			if tt.have.keyring {
				keyring.Set(KeyringService, client, "pin_sk_keyring")
				put("keyring", "pin_sk_keyring")
			}
			for _, f := range []struct {
				on   bool
				name string
			}{{tt.have.envFile, "envfile"}, {tt.have.credential, "credential"}, {tt.have.userFile, "user"}, {tt.have.serviceFile, "service"}} {
				if f.on {
					if err := WriteFile(paths[f.name], protocol.NewSecret("pin_sk_"+f.name)); err != nil {
						t.Fatal(err)
					}
					put(f.name, "pin_sk_"+f.name)
				}
			}
			if tt.have.envFile {
				env[EnvSecretFile] = paths["envfile"]
			}
			sec, src, err := s.Lookup(q)
			if err != nil {
				t.Fatal(err)
			}
			if src.Kind != tt.want || src.Path != paths[tt.path] && tt.want != FromKeyring {
				t.Errorf("source = %+v, want %s %s", src, tt.want, paths[tt.path])
			}
			key := tt.path
			if tt.want == FromKeyring {
				key = "keyring"
				if src.Path != client {
					t.Errorf("keyring source account = %q", src.Path)
				}
			}
			if sec.Reveal() != vals[key] {
				t.Errorf("secret from the wrong place: got the value of %q", src)
			}
			if strings.Contains(buf.String(), "level=WARN") {
				t.Errorf("unexpected warning: %s", buf.String())
			}
		})
	}
}

func TestConfigPermissionWarning(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("mode bits are not checked on Windows")
	}
	for _, mode := range []os.FileMode{0o600, 0o640, 0o604} {
		s, buf := newStore(t, nil)
		p := filepath.Join(t.TempDir(), "config.json")
		os.WriteFile(p, []byte("{}"), mode)
		os.Chmod(p, mode) // umask-proof
		_, src, err := s.Lookup(Query{ClientID: client, ConfigSecret: value, ConfigPath: p})
		if err != nil || src.Kind != FromConfig {
			t.Fatal(err, src)
		}
		warned := strings.Contains(buf.String(), "level=WARN") && strings.Contains(buf.String(), p)
		if warned != (mode != 0o600) {
			t.Errorf("mode %o: warned=%v, log %q", mode, warned, buf.String())
		}
		noLeak(t, buf.String())
	}
}

func TestSaveKeyring(t *testing.T) {
	s, buf := newStore(t, nil)
	src, err := s.Save(client, protocol.NewSecret(value))
	if err != nil || src.Kind != FromKeyring || src.Path != client {
		t.Fatal(src, err)
	}
	got, err := keyring.Get(KeyringService, client)
	if err != nil || got != value {
		t.Errorf("keyring holds %d bytes, %v", len(got), err)
	}
	if ok, err := s.InKeyring(client); !ok || err != nil {
		t.Error("InKeyring", ok, err)
	}
	if _, err := os.Stat(s.UserFile(client)); !os.IsNotExist(err) {
		t.Error("a file was written although the keyring works")
	}
	noLeak(t, buf.String(), src.String())
}

func TestSaveFallsBackToFile(t *testing.T) {
	s, buf := newStore(t, nil)
	keyring.MockInitWithError(errors.New("The name org.freedesktop.secrets was not provided by any .service files"))
	src, err := s.Save(client, protocol.NewSecret(value))
	if err != nil {
		t.Fatal(err)
	}
	want := s.UserFile(client)
	if src.Kind != FromFile || src.Path != want {
		t.Fatalf("source %+v, want file %s", src, want)
	}
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), want) {
		t.Errorf("no warning naming %s: %q", want, buf.String())
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(want)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("fallback file mode %v, %v", fi.Mode(), err)
		}
		di, _ := os.Stat(filepath.Dir(want))
		if di.Mode().Perm() != 0o700 {
			t.Errorf("fallback folder mode %v", di.Mode())
		}
	}
	sec, src, err := s.Lookup(Query{ClientID: client})
	if err != nil || src.Kind != FromFile || sec.Reveal() != value {
		t.Fatalf("lookup after fallback: %v %v", src, err)
	}
	if !strings.Contains(buf.String(), "keyring lookup failed") {
		t.Error("unreachable keyring not logged")
	}
	noLeak(t, buf.String())
	removed, err := s.Delete(client)
	if err != nil || len(removed) != 1 || removed[0].Kind != FromFile {
		t.Errorf("delete: %v %v", removed, err)
	}
}

type fakeKeyring struct {
	get   func() (string, error)
	set   error
	block chan struct{} // non-nil: every call waits on it
}

func (f *fakeKeyring) wait() {
	if f.block != nil {
		<-f.block
	}
}
func (f *fakeKeyring) Get(string, string) (string, error) { f.wait(); return f.get() }
func (f *fakeKeyring) Set(string, string, string) error   { f.wait(); return f.set }
func (f *fakeKeyring) Delete(string, string) error        { f.wait(); return keyring.ErrNotFound }

func TestSaveVerifiesReadBack(t *testing.T) {
	s, buf := newStore(t, nil)
	s.Keyring = &fakeKeyring{get: func() (string, error) { return "pin_sk_other", nil }}
	_, err := s.Save(client, protocol.NewSecret(value))
	if err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("err = %v", err)
	}
	noLeak(t, err.Error(), buf.String())
	s.Keyring = &fakeKeyring{get: func() (string, error) { return "", keyring.ErrNotFound }}
	if _, err := s.Save(client, protocol.NewSecret(value)); err == nil || !strings.Contains(err.Error(), "verify keyring entry") {
		t.Fatalf("missing read-back: %v", err)
	}
	s.Keyring = &fakeKeyring{set: keyring.ErrSetDataTooBig}
	if _, err := s.Save(client, protocol.NewSecret(value)); !errors.Is(err, keyring.ErrSetDataTooBig) {
		t.Fatalf("too big: %v", err)
	}
	if _, err := s.Save("", protocol.NewSecret(value)); err == nil {
		t.Error("empty clientId accepted")
	}
	if _, err := s.Save(client, protocol.Secret{}); err == nil {
		t.Error("empty secret accepted")
	}
}

func TestKeyringTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fk := &fakeKeyring{block: make(chan struct{}), get: func() (string, error) { return value, nil }}
		s := &Store{Keyring: fk, Timeout: 3 * time.Second, UserDir: t.TempDir(), SystemDir: t.TempDir(),
			Getenv: func(string) string { return "" }}
		start := time.Now()
		_, _, err := s.Lookup(Query{ClientID: client})
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "keyring unavailable") {
			t.Errorf("err = %v", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("gave up after %v, want 3s", d)
		}
		if _, err := s.InKeyring(client); !errors.Is(err, ErrKeyringUnavailable) {
			t.Errorf("InKeyring: %v", err)
		}
		close(fk.block) // let the abandoned calls finish
	})
}

func TestNotFound(t *testing.T) {
	s, _ := newStore(t, nil)
	_, src, err := s.Lookup(Query{ClientID: client})
	if !errors.Is(err, ErrNotFound) || src.Kind != "" {
		t.Fatal(err, src)
	}
	for _, want := range []string{"op_test", "pin-clientd secret set", "PIN_API_SECRET", "apiSecret"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if _, _, err := s.Lookup(Query{}); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "clientId is empty") {
		t.Errorf("empty clientId: %v", err)
	}
}

func TestExplicitFileMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	s, _ := newStore(t, map[string]string{EnvSecretFile: missing})
	_, _, err := s.Lookup(Query{ClientID: client})
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), missing) {
		t.Errorf("err = %v, want a read error naming %s", err, missing)
	}
}

func TestDelete(t *testing.T) {
	s, _ := newStore(t, nil)
	if removed, err := s.Delete(client); err != nil || len(removed) != 0 {
		t.Fatalf("delete of nothing: %v %v", removed, err)
	}
	s.Save(client, protocol.NewSecret(value))
	WriteFile(s.UserFile(client), protocol.NewSecret(value))
	removed, err := s.Delete(client)
	if err != nil || len(removed) != 2 || removed[0].Kind != FromKeyring || removed[1].Kind != FromFile {
		t.Fatalf("removed %v, %v", removed, err)
	}
	if _, err := keyring.Get(KeyringService, client); !errors.Is(err, keyring.ErrNotFound) {
		t.Error("keyring entry still there")
	}
	if _, err := s.Delete(""); err == nil {
		t.Error("empty clientId accepted")
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b.secret")
	if err := WriteFile(p, protocol.NewSecret(value)); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, protocol.NewSecret(value+"x")); err != nil { // overwrite
		t.Fatal(err)
	}
	got, err := ReadFile(p)
	if err != nil || got.Reveal() != value+"x" {
		t.Fatal("read back", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("temp files left: %v", entries)
	}
	if err := WriteFile(p, protocol.Secret{}); err == nil {
		t.Error("empty secret written")
	}
	os.WriteFile(p, []byte("\n \n"), 0o600)
	if _, err := ReadFile(p); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}
	if ok, err := DeleteFile(p); !ok || err != nil {
		t.Error(ok, err)
	}
	if ok, err := DeleteFile(p); ok || err != nil {
		t.Error(ok, err)
	}
}

func TestDirs(t *testing.T) {
	env := map[string]string{"HOME": "/home/u", "XDG_CONFIG_HOME": "", "AppData": `C:\U\AppData`, "ProgramData": `D:\PD`}
	get := func(k string) string { return env[k] }
	var want string
	switch runtime.GOOS {
	case "windows":
		want = filepath.Join(`C:\U\AppData`, "pin-client")
	case "darwin":
		want = "/home/u/Library/Application Support/pin-client"
	default:
		want = "/home/u/.config/pin-client"
		env["XDG_CONFIG_HOME"] = "/x"
		if got := UserDir(get); got != "/x/pin-client" {
			t.Errorf("XDG: %s", got)
		}
		env["XDG_CONFIG_HOME"] = ""
	}
	if got := UserDir(get); got != want {
		t.Errorf("UserDir = %s, want %s", got, want)
	}
	if got := UserDir(func(string) string { return "" }); got != "" {
		t.Errorf("no home: %q", got)
	}
	if runtime.GOOS != "windows" && SystemDir(get) != "/etc/pin-client" {
		t.Error(SystemDir(get))
	}
	s := &Store{UserDir: "/u", SystemDir: "/s"}
	if got := s.UserFile("op_a/../b"); got != filepath.Join("/u", "op_a_.._b.secret") {
		t.Errorf("UserFile = %s", got)
	}
}

func TestSourceNeverHoldsValue(t *testing.T) {
	for _, src := range []Source{{Kind: FromEnv}, {FromConfig, "/c.json"}, {FromKeyring, client}, {FromFile, "/f"}, {}} {
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("secret", "source", src, "secret", protocol.NewSecret(value))
		s := src.String() + fmt.Sprint(src) + buf.String()
		noLeak(t, s)
		if src.Kind != "" && !strings.Contains(buf.String(), string(src.Kind)) {
			t.Errorf("log lacks the kind: %s", buf.String())
		}
	}
	if (Source{FromKeyring, client}).String() != "OS keyring (pin-client/op_test)" {
		t.Error((Source{FromKeyring, client}).String())
	}
}

// TestKeyringIntegration does a real round trip through the OS keyring (on Linux the
// Secret Service: see .ci/keyring-test.sh). Opt in with PIN_KEYRING_INTEGRATION=1.
func TestKeyringIntegration(t *testing.T) {
	if os.Getenv("PIN_KEYRING_INTEGRATION") != "1" {
		t.Skip("set PIN_KEYRING_INTEGRATION=1 to use the real OS keyring (.ci/keyring-test.sh)")
	}
	id := fmt.Sprintf("op_integration_%d", time.Now().UnixNano())
	getenv := func(k string) string {
		if k == EnvSecret || k == EnvSecretFile {
			return "" // only the keyring is under test
		}
		return os.Getenv(k)
	}
	s := &Store{Getenv: getenv, UserDir: t.TempDir(), SystemDir: t.TempDir()}
	src, err := s.Save(id, protocol.NewSecret(value))
	if err != nil {
		t.Fatal(err)
	}
	if src.Kind != FromKeyring {
		t.Fatalf("stored in %v, not the keyring", src)
	}
	sec, src, err := s.Lookup(Query{ClientID: id})
	if err != nil || src.Kind != FromKeyring || sec.Reveal() != value {
		t.Fatalf("get: %v %v", src, err)
	}
	removed, err := s.Delete(id)
	if err != nil || len(removed) != 1 || removed[0].Kind != FromKeyring {
		t.Fatalf("delete: %v %v", removed, err)
	}
	if ok, err := s.InKeyring(id); ok || err != nil {
		t.Fatalf("after delete: present=%v err=%v", ok, err)
	}
	if _, _, err := s.Lookup(Query{ClientID: id}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("not-found: %v", err)
	}
}

// The desktop app stores only in the keyring: without one, SaveKeyring fails with
// ErrKeyringUnavailable and writes nothing to disk.
func TestSaveKeyringOnlyNeverWritesAFile(t *testing.T) {
	s, _ := newStore(t, nil)
	keyring.MockInitWithError(errors.New("The name org.freedesktop.secrets was not provided by any .service files"))
	if _, err := s.SaveKeyring(client, protocol.NewSecret(value)); !errors.Is(err, ErrKeyringUnavailable) {
		t.Fatalf("err = %v, want ErrKeyringUnavailable", err)
	}
	if _, err := os.Stat(s.UserFile(client)); !os.IsNotExist(err) {
		t.Fatalf("a secret file was written: %v", err)
	}
}
