package setupcli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/detect"
	"github.com/pin-client/pin-client/internal/config"
)

// initFlags are `pin-clientd init`'s flags.
type initFlags struct {
	scan          scanFlags
	path          string
	force         bool
	clientID      string
	region        string
	alias         string
	url           string
	apiMode       string
	capacity      int
	price         float64
	payoutAddress string
}

// Init runs `pin-clientd init`: it finds the operator's LLM servers (or probes --url),
// and writes a config.json with one node per server that offers a chat model: alias from
// the host name and the server kind, capacity from the server's parallelism, the default
// price. The client id and region come from flags, or from prompts when stdin is a
// terminal. It never overwrites an existing file without --force, and never writes the
// API secret: it says how to store it instead.
func Init(ctx context.Context, args []string, io IO) error {
	var f initFlags
	fset := flag.NewFlagSet("pin-clientd init", flag.ContinueOnError)
	fset.SetOutput(io.Stderr)
	for _, n := range []string{"c", "config"} {
		fset.StringVar(&f.path, n, "config.json", "config file to write")
	}
	fset.BoolVar(&f.force, "force", false, "overwrite an existing config file")
	fset.StringVar(&f.clientID, "client-id", "", "operator id from the PIN dashboard (op_…); prompted on a terminal")
	fset.StringVar(&f.region, "region", "", "region: "+strings.Join(config.Regions, ", ")+"; prompted on a terminal")
	fset.StringVar(&f.alias, "alias", "", "node alias (default: <hostname>-<server>); only with a single node")
	fset.StringVar(&f.url, "url", "", "use the server at this URL instead of scanning, e.g. http://127.0.0.1:11434")
	fset.StringVar(&f.apiMode, "api-mode", "", `apiMode for --url: "ollama" or "openai" (default: what answers there)`)
	fset.IntVar(&f.capacity, "capacity", 0, "requests each node serves at once (default: the server's parallelism, else 1)")
	fset.Float64Var(&f.price, "price", config.DefaultPrice, "price in USD per 1K tokens")
	fset.StringVar(&f.payoutAddress, "payout-address", "", "BSC wallet address for payouts (optional)")
	f.scan.register(fset)
	fset.Usage = func() {
		fmt.Fprintln(io.Stderr, "Usage: pin-clientd init [-c config.json] [--force] [--client-id op_…] [--region R] [--url U] ...\n\nWrites a config.json for the LLM servers found on this machine (see `pin-clientd detect`).\nThe API secret is never written to the file.\n\nFlags:")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("init: unexpected argument %q; run `pin-clientd init -h`", fset.Arg(0))
	}
	if err := f.check(); err != nil {
		return err
	}

	old, oldHadSecret, err := existing(f.path)
	switch {
	case err == nil && !f.force:
		return fmt.Errorf("%s already exists; pass --force to replace it, or -c to write another file", f.path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("check %s: %w", f.path, err)
	}

	opts, err := f.scan.options(&io)
	if err != nil {
		return err
	}
	servers, err := f.servers(ctx, opts, &io)
	if err != nil {
		return err
	}

	in := bufio.NewReader(orEmpty(io.Stdin))
	clientID, err := f.ask(&io, in, f.clientID, old.ClientID, "Operator id (op_… from the PIN dashboard)", "--client-id", "your operator id (op_…) from the PIN dashboard", validClientID)
	if err != nil {
		return err
	}
	oldRegion := ""
	if len(old.Nodes) > 0 {
		oldRegion = old.Nodes[0].Region
	}
	regions := strings.Join(config.Regions, ", ")
	region, err := f.ask(&io, in, f.region, oldRegion, "Region ("+regions+")", "--region", "one of "+regions, validRegion)
	if err != nil {
		return err
	}
	payout := f.payoutAddress
	if payout == "" {
		payout = old.PayoutAddress
	}

	cfg := config.Config{ClientID: clientID, PayoutAddress: payout, Nodes: buildNodes(servers, io.hostname(), region, &f)}
	warnings, err := validate(cfg)
	if err != nil {
		return fmt.Errorf("the config init built is not valid (%w); please report this", err)
	}
	if err := cfg.Save(f.path, false); err != nil {
		return err
	}

	printSummary(&io, f.path, cfg, servers, warnings)
	if oldHadSecret {
		fmt.Fprintf(io.Stdout, "\nThe old %s held an apiSecret; it was not carried over.\n", f.path)
	}
	fmt.Fprintf(io.Stdout, "\nThe API secret is not stored in %s. Store it in the OS keyring:\n  pin-clientd secret set -c %s\nor give the daemon PIN_API_SECRET in its environment.\n", f.path, f.path)
	total := 0
	for _, n := range cfg.Nodes {
		total += n.Capacity
	}
	threads := ""
	if total > 1 {
		threads = " -n " + strconv.Itoa(total)
	}
	fmt.Fprintf(io.Stdout, "Then start the relay: pin-clientd -c %s%s\n", f.path, threads)
	return nil
}

// check validates the flags that need no network.
func (f *initFlags) check() error {
	switch f.apiMode {
	case "", backends.ModeOllama, backends.ModeOpenAI:
	default:
		return fmt.Errorf(`--api-mode %q: use "ollama" or "openai"`, f.apiMode)
	}
	if f.apiMode != "" && f.url == "" {
		return errors.New("--api-mode needs --url (a scan finds the mode by itself)")
	}
	if f.capacity < 0 {
		return fmt.Errorf("--capacity %d: use 1 or more (0 means: from the server)", f.capacity)
	}
	if f.price < 0 {
		return fmt.Errorf("--price %g: use a price of 0 or more USD per 1K tokens, e.g. %g", f.price, config.DefaultPrice)
	}
	if f.region != "" {
		if err := validRegion(f.region); err != nil {
			return fmt.Errorf("--region: %w", err)
		}
	}
	if f.clientID != "" {
		if err := validClientID(f.clientID); err != nil {
			return fmt.Errorf("--client-id: %w", err)
		}
	}
	return nil
}

// servers finds the servers to write nodes for: the one at --url, or those a scan finds
// that offer a chat model. Servers left out are named on stderr with the reason.
func (f *initFlags) servers(ctx context.Context, opts detect.Options, io *IO) ([]detect.Server, error) {
	if f.url != "" {
		s, err := detect.Probe(ctx, f.url, opts)
		switch {
		case errors.Is(err, detect.ErrBadURL):
			return nil, fmt.Errorf("--url: %w", err)
		case err != nil && f.apiMode == "":
			return nil, fmt.Errorf("--url: %w; start the server first, or pass --api-mode to write the node anyway", err)
		case err != nil:
			fmt.Fprintf(io.Stderr, "warning: %v; writing the node as given\n", err)
			s = detect.Server{URL: strings.TrimRight(f.url, "/"), Kind: detect.KindUnknown, APIMode: f.apiMode, Parallel: 1}
		case f.apiMode != "" && f.apiMode != s.APIMode && s.Kind != detect.KindOllama:
			return nil, fmt.Errorf("--api-mode %q does not fit %s at %s, which speaks the %s API; use --api-mode %s or leave it out",
				f.apiMode, s.Kind.Name(), s.URL, apiName(s.APIMode), s.APIMode)
		}
		if f.apiMode != "" {
			s.APIMode = f.apiMode
		}
		if err == nil && len(s.ChatModels()) == 0 {
			fmt.Fprintf(io.Stderr, "warning: %s at %s offers no chat model yet; the node registers once it has one\n", s.Kind.Name(), s.URL)
		}
		return []detect.Server{s}, nil
	}

	found := detect.Scan(ctx, opts)
	var use []detect.Server
	for _, s := range found {
		switch {
		case s.Err != nil:
			fmt.Fprintf(io.Stderr, "skipped: %v\n", s.Err)
		case len(s.ChatModels()) == 0:
			fmt.Fprintf(io.Stderr, "skipped: %s at %s offers no chat model\n", s.Kind.Name(), s.URL)
		default:
			use = append(use, s)
		}
	}
	if len(use) == 0 {
		return nil, fmt.Errorf("no LLM server with a chat model found on %s (ports %s); start one (e.g. `ollama serve` and `ollama pull llama3.2`), or pass --url",
			strings.Join(hostsScanned(opts), ", "), portsText(opts))
	}
	if f.alias != "" && len(use) > 1 {
		return nil, fmt.Errorf("--alias names one node, but %d servers were found; pick one with --url", len(use))
	}
	return use, nil
}

func apiName(mode string) string {
	if mode == backends.ModeOllama {
		return "Ollama"
	}
	return "OpenAI"
}

// ask returns the flag value if set; else, on a terminal, prompts (offering def) until
// valid says yes; else def if any; else fails naming the flag and what it takes (want).
func (f *initFlags) ask(io *IO, in *bufio.Reader, flagValue, def, prompt, flagName, want string, valid func(string) error) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if !io.terminal() {
		if def != "" && valid(def) == nil {
			return def, nil
		}
		return "", fmt.Errorf("%s is required when stdin is not a terminal: pass %s", flagName, want)
	}
	for range 5 {
		if def != "" {
			fmt.Fprintf(io.Stdout, "%s [%s]: ", prompt, def)
		} else {
			fmt.Fprintf(io.Stdout, "%s: ", prompt)
		}
		line, err := in.ReadString('\n')
		v := strings.TrimSpace(line)
		if v == "" && def != "" {
			v = def
		}
		if v != "" {
			if verr := valid(v); verr != nil {
				fmt.Fprintf(io.Stdout, "  %v\n", verr)
			} else {
				return v, nil
			}
		}
		if err != nil {
			return "", fmt.Errorf("%s: no answer (%w); pass %s", flagName, err, flagName)
		}
	}
	return "", fmt.Errorf("%s: no valid answer; pass %s", flagName, flagName)
}

func validClientID(v string) error {
	if strings.TrimSpace(v) != v || v == "" || strings.ContainsFunc(v, unicode.IsSpace) {
		return fmt.Errorf("%q is not an operator id; copy it from the PIN dashboard (op_…)", v)
	}
	if !strings.HasPrefix(v, "op_") {
		return fmt.Errorf("%q does not start with op_; copy the operator id from the PIN dashboard", v)
	}
	return nil
}

func validRegion(v string) error {
	if !slices.Contains(config.Regions, v) {
		return fmt.Errorf("%q is not a region; use one of %s", v, strings.Join(config.Regions, ", "))
	}
	return nil
}

// buildNodes makes one node per server. Aliases are <host>-<kind>, made unique by the
// port when two servers share a kind.
func buildNodes(servers []detect.Server, hostname, region string, f *initFlags) []config.Node {
	host := aliasPart(hostname)
	kinds := map[detect.Kind]int{}
	for _, s := range servers {
		kinds[s.Kind]++
	}
	var nodes []config.Node
	seen := map[string]bool{}
	for _, s := range servers {
		alias := host + "-" + kindAlias(s.Kind)
		if kinds[s.Kind] > 1 || seen[alias] {
			alias += "-" + portOf(s.URL)
		}
		if f.alias != "" {
			alias = f.alias
		}
		seen[alias] = true
		capacity := max(s.Parallel, 1)
		if f.capacity > 0 {
			capacity = f.capacity
		}
		price := f.price
		nodes = append(nodes, config.Node{
			Alias:                  alias,
			InferenceURI:           s.URL,
			APIMode:                s.APIMode,
			Region:                 region,
			Capacity:               capacity,
			PricePerThousandTokens: &price,
		})
	}
	return nodes
}

// aliasPart makes a host name alias-friendly: first label, lower case, [a-z0-9-].
func aliasPart(hostname string) string {
	h, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(hostname)), ".")
	var b strings.Builder
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 24 {
		s = strings.TrimRight(s[:24], "-")
	}
	if s == "" {
		s = "node"
	}
	return s
}

func kindAlias(k detect.Kind) string {
	switch k {
	case detect.KindOpenAI:
		return "openai"
	case detect.KindUnknown, "":
		return "llm"
	}
	return string(k)
}

// portOf is the port of a server URL, with the scheme's default when it names none.
func portOf(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "0"
	case u.Port() != "":
		return u.Port()
	case u.Scheme == "https":
		return "443"
	}
	return "80"
}

// existing reads the config already at path (without validating it) for defaults, and
// whether it holds an apiSecret. The error wraps fs.ErrNotExist when there is none.
func existing(path string) (config.Config, bool, error) {
	var old config.Config
	data, err := os.ReadFile(path)
	if err != nil {
		return old, false, err
	}
	if json.Unmarshal(data, &old) != nil {
		return config.Config{}, false, nil // unreadable: no defaults from it
	}
	return old, old.APISecret != "", nil
}

// validate checks cfg the way the daemon will load it, on a copy, so the file keeps
// only what init chose (defaults stay implicit).
func validate(cfg config.Config) ([]string, error) {
	c := cfg
	c.Nodes = slices.Clone(cfg.Nodes)
	return c.Check()
}

func printSummary(io *IO, path string, cfg config.Config, servers []detect.Server, warnings []string) {
	plural := "s"
	if len(cfg.Nodes) == 1 {
		plural = ""
	}
	fmt.Fprintf(io.Stdout, "Wrote %s with %d node%s:\n", path, len(cfg.Nodes), plural)
	for i, n := range cfg.Nodes {
		s := servers[i]
		var names []string
		for _, m := range s.ChatModels() {
			names = append(names, m.Name)
		}
		models := strings.Join(names, ", ")
		if models == "" {
			models = "none yet"
		}
		what := s.Kind.Name()
		if s.Kind == detect.KindUnknown {
			what = "server (not probed)"
		}
		fmt.Fprintf(io.Stdout, "  %s: %s at %s, apiMode %q, region %s, capacity %d, price %g USD/1K tokens\n    models: %s\n",
			n.Alias, what, n.InferenceURI, n.APIMode, n.Region, n.Capacity, n.Price(), models)
	}
	for _, w := range warnings {
		fmt.Fprintf(io.Stderr, "warning: %s\n", w)
	}
}

// orEmpty is r, or an empty reader when r is nil.
func orEmpty(r io.Reader) io.Reader {
	if r == nil {
		return strings.NewReader("")
	}
	return r
}
