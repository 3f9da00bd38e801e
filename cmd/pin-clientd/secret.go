package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/logging"
	"github.com/pin-client/pin-client/internal/secret"
)

func init() {
	subcommands["secret"] = subcommand{run: runSecret, summary: "store, remove or locate the API secret (OS keyring): set | delete | status"}
}

// systemRoot prefixes the system-wide paths this binary writes (the service secret file,
// system units). Empty in production; tests point it at a temp folder.
var systemRoot string

// secretKeyring is the keyring the commands use; nil (production): the OS keyring.
// Tests set a fake to fail in ways go-keyring's mock cannot (a read-back that differs).
var secretKeyring secret.Keyring

// newSecretStore is the store the secret and service commands use: the OS keyring, the
// command's environment, the service secret file under systemRoot.
func newSecretStore(io cmdIO, log *slog.Logger) *secret.Store {
	return &secret.Store{
		Keyring:   secretKeyring,
		Getenv:    io.Env,
		SystemDir: filepath.Join(systemRoot, secret.SystemDir(io.Env)),
		Log:       log,
	}
}

// daemonSecret finds the daemon's API secret in the order of internal/secret
// (PIN_API_SECRET, apiSecret in config.json, OS keyring, secret files) and returns it
// with a description of where it came from (never the value), for the log and status.
// It has the shape of lookupSecret in secretsrc.go, to replace it.
func daemonSecret(cfg *config.Config, cfgPath string, io cmdIO, log *slog.Logger) (protocol.Secret, string, error) {
	if abs, err := filepath.Abs(cfgPath); err == nil {
		cfgPath = abs
	}
	sec, src, err := newSecretStore(io, log).Lookup(secret.Query{ClientID: cfg.ClientID, ConfigSecret: cfg.APISecret, ConfigPath: cfgPath})
	if err != nil {
		return protocol.Secret{}, "", err
	}
	return sec, src.String(), nil
}

const secretUsage = `Usage:
  pin-clientd secret set    [-c config.json] [--client-id op_…] [--system]
  pin-clientd secret delete [-c config.json] [--client-id op_…] [--system]
  pin-clientd secret status [-c config.json] [--client-id op_…]

set reads the secret from a hidden prompt on a terminal, or from the first line of
standard input (pin-clientd secret set < file); never from the command line. It goes to
the OS keyring (service "pin-client", account = clientId) and is read back to verify; with
no reachable keyring it goes to a file readable only by you, and you are told where.
--system writes the system service's secret file instead (run as root/Administrator).
status tells where the daemon would find the secret; it never prints the secret.
`

type secretFlags struct {
	config, clientID string
	system           bool
}

func runSecret(ctx context.Context, args []string, io cmdIO) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(io.Stdout, secretUsage)
		if len(args) == 0 {
			return errors.New("secret: missing action; use set, delete or status")
		}
		return nil
	}
	action, args := args[0], args[1:]
	var f secretFlags
	fs := flag.NewFlagSet("pin-clientd secret "+action, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	fs.Usage = func() { fmt.Fprint(io.Stderr, secretUsage) }
	for _, n := range []string{"c", "config"} {
		fs.StringVar(&f.config, n, "config.json", "config file (for clientId and apiSecret)")
	}
	fs.StringVar(&f.clientID, "client-id", "", "operator id (default: clientId from the config)")
	fs.BoolVar(&f.system, "system", false, "the system service's secret file instead of the keyring")
	if err := fs.Parse(args); err != nil {
		return err // the flag package never includes a flag's value in its errors
	}
	if fs.NArg() > 0 {
		if action == "set" {
			// Never echo the argument: it is probably the secret.
			return errors.New("secret set: the secret is not accepted on the command line (it would show in ps and shell history); type it at the prompt or pipe it on standard input")
		}
		return fmt.Errorf("secret %s: unexpected argument; run `pin-clientd secret -h`", action)
	}
	log := slog.New(logging.New(io.Stderr, slog.LevelWarn, true))
	store := newSecretStore(io, log)
	switch action {
	case "set":
		return secretSet(f, store, io)
	case "delete":
		return secretDelete(f, store, io)
	case "status":
		return secretStatus(f, store, io)
	}
	return fmt.Errorf("secret: unknown action %q; use set, delete or status", action)
}

// secretTarget loads what the secret commands need from the config: the clientId (or
// --client-id), the config's own apiSecret and the config's absolute path. A config
// that cannot be read is fine when --client-id is given.
func secretTarget(f secretFlags) (clientID, cfgSecret, cfgPath string, err error) {
	cfgPath, _ = filepath.Abs(f.config)
	cfg, _, lerr := config.Load(f.config, nil)
	if lerr == nil {
		clientID, cfgSecret = cfg.ClientID, cfg.APISecret
	}
	if f.clientID != "" {
		clientID = f.clientID
	}
	if clientID == "" {
		return "", "", "", fmt.Errorf("%w; or name the operator with --client-id op_…", lerr)
	}
	return clientID, cfgSecret, cfgPath, nil
}

func secretSet(f secretFlags, store *secret.Store, io cmdIO) error {
	clientID, cfgSecret, cfgPath, err := secretTarget(f)
	if err != nil {
		return err
	}
	sec, err := readSecret(io, clientID)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(sec.Reveal(), "pin_sk_") {
		fmt.Fprintln(io.Stderr, "warning: the secret does not start with pin_sk_; stored anyway, check it against the PIN dashboard")
	}
	if f.system {
		p := store.ServiceFile()
		if err := secret.WriteFile(p, sec); err != nil {
			return adminHint(err, false)
		}
		fmt.Fprintf(io.Stdout, "Stored the API secret for %s in %s (readable only by its owner), for the system service.\n", clientID, p)
		return nil
	}
	src, err := store.Save(clientID, sec)
	if err != nil {
		return err
	}
	switch src.Kind {
	case secret.FromKeyring:
		fmt.Fprintf(io.Stdout, "Stored the API secret for %s in the %s and read it back.\n", clientID, src)
	default:
		fmt.Fprintf(io.Stdout, "No OS keyring is reachable here, so the API secret for %s went to %s, readable only by you.\n", clientID, src.Path)
	}
	if io.Env(secret.EnvSecret) != "" {
		fmt.Fprintf(io.Stdout, "Note: %s is set in this environment and takes precedence.\n", secret.EnvSecret)
	}
	if cfgSecret != "" {
		fmt.Fprintf(io.Stdout, "Note: %s still has apiSecret, which takes precedence; remove that key to use the stored secret.\n", cfgPath)
	}
	return nil
}

// readSecret reads the secret without echo from a terminal, else the first line of
// stdin. The value never goes to any output.
func readSecret(cio cmdIO, clientID string) (protocol.Secret, error) {
	var raw []byte
	if cio.IsTerminal != nil && cio.IsTerminal() {
		fmt.Fprintf(cio.Stderr, "API secret for %s (pin_sk_…, input hidden): ", clientID)
		b, err := cio.ReadPassword()
		fmt.Fprintln(cio.Stderr)
		if err != nil {
			return protocol.Secret{}, fmt.Errorf("read secret from terminal: %w", err)
		}
		raw = b
	} else {
		line, err := bufio.NewReaderSize(cio.Stdin, 4096).ReadSlice('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, bufio.ErrBufferFull) {
				return protocol.Secret{}, errors.New("read secret from stdin: the first line is longer than 4 KiB; that is not an API secret")
			}
			return protocol.Secret{}, fmt.Errorf("read secret from stdin: %w", err)
		}
		raw = line
	}
	v := strings.TrimSpace(string(raw))
	if v == "" {
		return protocol.Secret{}, errors.New("no secret given: type it at the prompt or pipe it on standard input (pin-clientd secret set < file)")
	}
	return protocol.NewSecret(v), nil
}

func secretDelete(f secretFlags, store *secret.Store, io cmdIO) error {
	if f.system {
		p := store.ServiceFile()
		ok, err := secret.DeleteFile(p)
		if err != nil {
			return adminHint(err, false)
		}
		if ok {
			fmt.Fprintf(io.Stdout, "Removed %s.\n", p)
		} else {
			fmt.Fprintf(io.Stdout, "No service secret file at %s; nothing removed.\n", p)
		}
		return nil
	}
	clientID, cfgSecret, cfgPath, err := secretTarget(f)
	if err != nil {
		return err
	}
	removed, err := store.Delete(clientID)
	for _, r := range removed {
		fmt.Fprintf(io.Stdout, "Removed the API secret for %s from the %s.\n", clientID, r)
	}
	if err != nil {
		return err
	}
	if len(removed) == 0 {
		fmt.Fprintf(io.Stdout, "No stored API secret for %s in the OS keyring or a secret file; nothing removed.\n", clientID)
	}
	if cfgSecret != "" {
		fmt.Fprintf(io.Stdout, "Note: %s still has apiSecret; remove it by editing the file.\n", cfgPath)
	}
	if _, err := os.Stat(store.ServiceFile()); err == nil {
		fmt.Fprintf(io.Stdout, "Note: the system service's secret file %s remains; remove it with `pin-clientd secret delete --system` or `pin-clientd service uninstall`.\n", store.ServiceFile())
	}
	return nil
}

func secretStatus(f secretFlags, store *secret.Store, io cmdIO) error {
	clientID, cfgSecret, cfgPath, err := secretTarget(f)
	if err != nil {
		return err
	}
	w := io.Stdout
	_, src, lerr := store.Lookup(secret.Query{ClientID: clientID, ConfigSecret: cfgSecret, ConfigPath: cfgPath})
	fmt.Fprintf(w, "API secret for %s\n", clientID)
	if lerr == nil {
		fmt.Fprintf(w, "  in use:   %s\n", src)
	} else {
		fmt.Fprintf(w, "  in use:   none\n")
	}
	present := func(ok bool) string {
		if ok {
			return "present"
		}
		return "absent"
	}
	fmt.Fprintf(w, "  %-44s %s\n", secret.EnvSecret, map[bool]string{true: "set", false: "not set"}[io.Env(secret.EnvSecret) != ""])
	fmt.Fprintf(w, "  %-44s %s\n", "apiSecret in "+cfgPath, present(cfgSecret != ""))
	switch ok, kerr := store.InKeyring(clientID); {
	case kerr != nil:
		fmt.Fprintf(w, "  %-44s unavailable (%v)\n", "OS keyring", kerr)
	default:
		fmt.Fprintf(w, "  %-44s %s\n", "OS keyring ("+secret.KeyringService+"/"+clientID+")", present(ok))
	}
	if p := io.Env(secret.EnvSecretFile); p != "" {
		fmt.Fprintf(w, "  %-44s %s\n", secret.EnvSecretFile+"="+p, present(fileExists(p)))
	}
	if p := store.UserFile(clientID); p != "" {
		fmt.Fprintf(w, "  %-44s %s\n", p, present(fileExists(p)))
	}
	fmt.Fprintf(w, "  %-44s %s\n", store.ServiceFile()+" (service)", present(fileExists(store.ServiceFile())))
	return lerr
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
