// Package setupcli implements the `pin-clientd detect` and `pin-clientd init` commands:
// their flags, what they print, and the config.json init writes from what backends/detect
// finds. cmd/pin-clientd adapts its I/O to IO and calls Detect and Init; everything here
// is testable without a terminal, a network beyond loopback fakes, or the real $HOME.
package setupcli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pin-client/pin-client/backends/detect"
)

// IO is what a command may touch of the outside world.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Env            func(string) string     // nil: an empty environment
	IsTerminal     func() bool             // stdin is an interactive terminal; nil: false
	Hostname       func() (string, error)  // nil: os.Hostname
	adjust         func(o *detect.Options) // tests: redirect dials, drop default ports
}

func (io *IO) env(k string) string {
	if io.Env == nil {
		return ""
	}
	return io.Env(k)
}

func (io *IO) terminal() bool { return io.IsTerminal != nil && io.IsTerminal() }

func (io *IO) hostname() string {
	h := os.Hostname
	if io.Hostname != nil {
		h = io.Hostname
	}
	name, err := h()
	if err != nil {
		return ""
	}
	return name
}

// EnvAPIToken is read when --api-key is not given: LM Studio's name for its API token.
const EnvAPIToken = "LM_API_TOKEN"

// scanFlags are the flags detect and init share.
type scanFlags struct {
	hosts   listFlag
	ports   listFlag
	timeout time.Duration
	apiKey  string
}

func (f *scanFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.hosts, "host", "host to scan, repeatable; host or host:port (default: 127.0.0.1 and ::1)")
	fs.Var(&f.ports, "port", "extra port to scan, repeatable (the usual ones are always scanned)")
	fs.DurationVar(&f.timeout, "timeout", detect.DefaultTimeout, "how long the whole scan may take")
	fs.StringVar(&f.apiKey, "api-key", "", "API token for servers that require one (LM Studio, Jan, vLLM --api-key); default $"+EnvAPIToken)
}

// options turns the flags into detect.Options; it fails with a one-line error naming
// the bad value.
func (f *scanFlags) options(io *IO) (detect.Options, error) {
	opts := detect.Options{Timeout: f.timeout, APIKey: f.apiKey, Getenv: io.Env}
	if opts.APIKey == "" {
		opts.APIKey = io.env(EnvAPIToken)
	}
	if f.timeout < 100*time.Millisecond || f.timeout > time.Minute {
		return opts, fmt.Errorf("--timeout %v: use a duration between 100ms and 1m, e.g. 2s", f.timeout)
	}
	for _, p := range f.ports {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return opts, fmt.Errorf("--port %q: use a port number from 1 to 65535", p)
		}
		opts.Ports = append(opts.Ports, n)
	}
	for _, h := range f.hosts {
		host, port, err := splitHostFlag(h)
		if err != nil {
			return opts, err
		}
		opts.Hosts = append(opts.Hosts, host)
		if port != 0 {
			opts.Ports = append(opts.Ports, port)
		}
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if io.adjust != nil {
		io.adjust(&opts)
	}
	return opts, nil
}

// splitHostFlag accepts "gpu-box", "10.0.0.5", "::1", "gpu-box:11434", "[::1]:8080" and
// "http://gpu-box:11434".
func splitHostFlag(v string) (host string, port int, err error) {
	bad := fmt.Errorf("--host %q: use a host name or IP address, optionally with :port (e.g. gpu-box or gpu-box:11434)", v)
	s := strings.TrimSpace(v)
	if strings.Contains(s, "://") {
		u, perr := url.Parse(s)
		if perr != nil || u.Hostname() == "" {
			return "", 0, bad
		}
		s = u.Host
	}
	if s == "" || strings.ContainsAny(s, "/ ") {
		return "", 0, bad
	}
	if h, p, serr := net.SplitHostPort(s); serr == nil {
		n, aerr := strconv.Atoi(p)
		if aerr != nil || n < 1 || n > 65535 || h == "" {
			return "", 0, bad
		}
		return h, n, nil
	}
	return strings.Trim(s, "[]"), 0, nil
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// Detect runs `pin-clientd detect [--host H]... [--port P]... [--json] [--timeout D]
// [--api-key T]`: it scans and prints a table, or JSON for scripts. Finding nothing is
// not an error.
func Detect(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("pin-clientd detect", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	var sf scanFlags
	sf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	fs.Usage = func() {
		fmt.Fprintln(io.Stderr, "Usage: pin-clientd detect [--host H]... [--port P]... [--json] [--timeout 1.2s] [--api-key T]\n\nFinds LLM servers (Ollama, LM Studio, vLLM, llama.cpp, TGI, LocalAI, KoboldCpp, Jan,\nany OpenAI-compatible server) on this machine or the hosts named, and what they serve.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("detect: unexpected argument %q; name hosts with --host", fs.Arg(0))
	}
	opts, err := sf.options(&io)
	if err != nil {
		return err
	}
	servers := detect.Scan(ctx, opts)

	if *asJSON {
		if servers == nil {
			servers = []detect.Server{}
		}
		enc := json.NewEncoder(io.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(servers)
	}
	if len(servers) == 0 {
		fmt.Fprintf(io.Stdout, "No LLM server found on %s (ports %s).\nStart one (e.g. `ollama serve`), or name its host and port with --host/--port.\n",
			strings.Join(hostsScanned(opts), ", "), portsText(opts))
		return nil
	}
	if err := detect.WriteTable(io.Stdout, servers); err != nil {
		return err
	}
	fmt.Fprintln(io.Stdout)
	for _, s := range servers {
		if errors.Is(s.Err, detect.ErrAuthRequired) {
			fmt.Fprintf(io.Stdout, "%s wants an API token: pass it with --api-key or set %s.\n", s.URL, EnvAPIToken)
		}
	}
	fmt.Fprintln(io.Stdout, "Write config.json from this with: pin-clientd init --client-id <op_…> --region <region>")
	return nil
}

func hostsScanned(o detect.Options) []string {
	if len(o.Hosts) == 0 {
		return detect.DefaultHosts
	}
	return o.Hosts
}

func portsText(o detect.Options) string {
	var ps []string
	if !o.NoDefaultPorts {
		for _, p := range detect.DefaultPorts {
			ps = append(ps, strconv.Itoa(p))
		}
	}
	for _, p := range o.Ports {
		ps = append(ps, strconv.Itoa(p))
	}
	return strings.Join(ps, ", ")
}
