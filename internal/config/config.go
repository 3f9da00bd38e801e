// Package config is config.json: the seed pin-clientd format (pin-protocol.md §12),
// camelCase keys, unknown keys accepted with a warning. Load reads and validates once;
// everything after works on a valid *Config.
//
// Validation errors are one line, name the field path and say how to fix it, e.g.
//
//	nodes[1].apiMode: "olama" is not a known API mode; use "ollama" or "openai"
//
// Problems the original daemon tolerated and that do no harm (an unknown region, an
// unknown key, a transport that is neither "sse" nor "ws") are warnings, not errors.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Defaults of the original daemon.
const (
	DefaultServerURL          = "wss://aiassist.net/api/v1/pin/ws"
	DefaultReconnectDelaySecs = 5
	DefaultTransport          = "sse"
	DefaultPrice              = 0.001
)

// API modes a node may use (§6): the backend dialect spoken at inferenceUri.
const (
	APIModeOllama = "ollama"
	APIModeOpenAI = "openai"
)

// Regions the gateway documents. Others are accepted with a warning.
var Regions = []string{"us-east", "us-west", "eu-west", "eu-central", "asia-pacific", "global"}

// Config is the root of config.json.
type Config struct {
	ClientID      string `json:"clientId"`
	APISecret     string `json:"apiSecret,omitempty"` // optional since 3.0: env or keyring preferred
	PayoutAddress string `json:"payoutAddress,omitempty"`
	ServerURL     string `json:"serverUrl,omitempty"`
	// ReconnectDelaySecs is the floor of the reconnect backoff, in seconds.
	ReconnectDelaySecs int    `json:"reconnectDelaySecs,omitempty"`
	Transport          string `json:"transport,omitempty"` // "sse" (default) or "ws"
	// AllowInsecure permits a cleartext ws:// or http:// serverUrl to a non-loopback host.
	AllowInsecure bool `json:"allowInsecure,omitempty"`
	// MetricsAddr is host:port where the engine serves Prometheus /metrics, /healthz and
	// /readyz, e.g. "127.0.0.1:9464"; empty (the default) serves nothing. The
	// --metrics-addr flag overrides it. It must be a loopback address unless
	// MetricsAllowRemote is set (the metrics name your nodes, models and earnings).
	MetricsAddr string `json:"metricsAddr,omitempty"`
	// MetricsAllowRemote permits a MetricsAddr that is not loopback ("0.0.0.0:9464",
	// ":9464", a LAN address); the flag is --metrics-allow-remote.
	MetricsAllowRemote bool `json:"metricsAllowRemote,omitempty"`
	// The job ledger (docs/ledger.md): LedgerOff turns it off; receipts older than
	// LedgerRetentionDays (0 → 90) are deleted, and the oldest ones while the ledger is
	// over LedgerMaxMB MiB (0 → 100).
	LedgerOff           bool   `json:"ledgerOff,omitempty"`
	LedgerRetentionDays int    `json:"ledgerRetentionDays,omitempty"`
	LedgerMaxMB         int    `json:"ledgerMaxMB,omitempty"`
	Nodes               []Node `json:"nodes"`

	// Schedule and PauseWhenBusy are the owner controls (owner.go); nil → off.
	Schedule      *Schedule      `json:"schedule,omitempty"`
	PauseWhenBusy *PauseWhenBusy `json:"pauseWhenBusy,omitempty"`
}

// Node is one element of "nodes".
type Node struct {
	Alias        string `json:"alias"`
	InferenceURI string `json:"inferenceUri"`
	APIMode      string `json:"apiMode"` // "ollama" or "openai"
	Region       string `json:"region"`
	Capacity     int    `json:"capacity"`
	// PricePerThousandTokens is USD per 1K tokens; nil means the default 0.001.
	PricePerThousandTokens *float64 `json:"pricePerThousandTokens,omitempty"`
	InterviewModel         string   `json:"interviewModel,omitempty"`
	TTSURI                 string   `json:"ttsUri,omitempty"`
	TTSModels              []string `json:"ttsModels,omitempty"`
	// APIKey is an optional bearer token for an OpenAI-compatible server that requires
	// one (LM Studio with authentication on, vLLM --api-key, Jan). New in 3.0; never logged.
	APIKey string `json:"apiKey,omitempty"`
}

// Price is the node's price per 1K tokens with the default applied.
func (n *Node) Price() float64 {
	if n.PricePerThousandTokens == nil {
		return DefaultPrice
	}
	return *n.PricePerThousandTokens
}

// UseWebSocket reports whether the WebSocket transport is selected. Per §2.1 only the
// exact value "ws" selects it; everything else (including "WS" and "") means SSE.
func (c *Config) UseWebSocket() bool { return c.Transport == "ws" }

// FieldError is a validation error for one field. Path is the JSON path as an operator
// reads it ("nodes[1].apiMode"); Error is one line: "<path>: <problem>; <fix>".
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

func fieldErr(path, format string, args ...any) error {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// ValidateThreads checks the -n/--threads value (§10.1: the original hung forever on 0).
func ValidateThreads(n int) error {
	if n < 1 {
		return fmt.Errorf("-n/--threads: %d is below 1; use 1 or more (how many jobs run at once, all nodes together)", n)
	}
	return nil
}

// Load reads, parses and validates the config file at path. Warnings are returned and,
// when log is non-nil, also logged once each at warn level (pass nil to report them
// yourself). A missing file yields an error that wraps fs.ErrNotExist.
func Load(path string, log *slog.Logger) (*Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	cfg, warnings, err := Parse(data)
	if err != nil {
		return nil, warnings, fmt.Errorf("config %s: %w", path, err)
	}
	if log != nil {
		for _, w := range warnings {
			log.Warn("config", "path", path, "warning", w)
		}
	}
	return cfg, warnings, nil
}

// Parse decodes and validates config.json content. Unknown keys are accepted and
// reported in a single warning. On error the returned *Config is nil.
func Parse(data []byte) (*Config, []string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM from Windows editors
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, errors.New("the file is empty; start from config.example.json")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, jsonError(data, err)
	}
	if raw == nil {
		return nil, nil, errors.New("the top level must be a JSON object {...}; start from config.example.json")
	}
	var cfg Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, nil, jsonError(data, err)
	}
	var warnings []string
	if w := unknownKeys(raw); w != "" {
		warnings = append(warnings, w)
	}
	more, err := cfg.Check()
	warnings = append(warnings, more...)
	if err != nil {
		return nil, warnings, err
	}
	return &cfg, warnings, nil
}

// Validate applies the defaults and checks the config; see Check.
func (c *Config) Validate() error {
	_, err := c.Check()
	return err
}

// Check applies the defaults (serverUrl, reconnectDelaySecs, transport, each node's
// price) and validates the config. It returns the warnings (problems the daemon runs
// with) and the first error (a problem it refuses to run with). Calling it again is
// harmless: defaults are only filled where empty.
func (c *Config) Check() (warnings []string, err error) {
	warnings, errs := c.Problems()
	if len(errs) > 0 {
		return warnings, errs[0]
	}
	return warnings, nil
}

// Problems is Check that does not stop at the first error: it applies the same defaults
// and returns every field error, in the order Check meets them (errs[0] is Check's
// error), so a form can show each problem next to its field at once.
func (c *Config) Problems() (warnings []string, errs []*FieldError) {
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	fail := func(err error) {
		var fe *FieldError
		if errors.As(err, &fe) {
			errs = append(errs, fe)
		}
	}

	if c.ServerURL == "" {
		c.ServerURL = DefaultServerURL
	}
	if c.ReconnectDelaySecs == 0 {
		c.ReconnectDelaySecs = DefaultReconnectDelaySecs
	}
	if c.Transport == "" {
		c.Transport = DefaultTransport
	}
	for i := range c.Nodes {
		if c.Nodes[i].PricePerThousandTokens == nil {
			p := DefaultPrice
			c.Nodes[i].PricePerThousandTokens = &p
		}
	}

	switch {
	case strings.TrimSpace(c.ClientID) == "":
		fail(fieldErr("clientId", "missing; set it to your operator id (op_…) from the PIN dashboard"))
	case !strings.HasPrefix(c.ClientID, "op_"):
		warn("clientId: %q does not start with \"op_\"; check it against the PIN dashboard", c.ClientID)
	}
	if c.APISecret != "" && !strings.HasPrefix(c.APISecret, "pin_sk_") {
		warn("apiSecret: the value does not start with \"pin_sk_\"; check it against the PIN dashboard")
	}
	if c.PayoutAddress != "" && !isBSCAddress(c.PayoutAddress) {
		warn("payoutAddress: not a 0x-prefixed 40-hex-digit BSC address; payouts may fail")
	}
	if err := c.checkServerURL(warn); err != nil {
		fail(err)
	}
	if c.ReconnectDelaySecs < 0 {
		fail(fieldErr("reconnectDelaySecs", "%d is negative; use a number of seconds of 1 or more (default %d)", c.ReconnectDelaySecs, DefaultReconnectDelaySecs))
	}
	if c.MetricsAddr != "" {
		if err := CheckMetricsAddr(c.MetricsAddr, c.MetricsAllowRemote); err != nil {
			fail(fieldErr("metricsAddr", "%v", err))
		}
	}
	if err := c.checkLedger(); err != nil {
		fail(err)
	}
	if c.Transport != "sse" && c.Transport != "ws" {
		warn("transport: %q is neither \"sse\" nor \"ws\"; using SSE (only exactly \"ws\" selects WebSocket)", c.Transport)
	}

	for _, err := range c.checkOwner() {
		fail(err)
	}

	if len(c.Nodes) == 0 {
		fail(fieldErr("nodes", "empty; add at least one node with alias, inferenceUri, apiMode, region and capacity (see config.example.json)"))
	}
	seen := make(map[string]int, len(c.Nodes))
	for i := range c.Nodes {
		n := &c.Nodes[i]
		p := fmt.Sprintf("nodes[%d]", i)
		for _, err := range n.check(p, warn) {
			fail(err)
		}
		if strings.TrimSpace(n.Alias) == "" {
			continue
		}
		// Duplicate aliases are refused: the gateway matches nodes by alias and would
		// rename the second one (a/b/c suffixes), and the engine maps registration acks
		// and interviews by alias, so two equal aliases cannot be told apart.
		if j, ok := seen[n.Alias]; ok {
			fail(fieldErr(p+".alias", "%q is already used by nodes[%d]; give each node its own alias", n.Alias, j))
			continue
		}
		seen[n.Alias] = i
	}
	return warnings, errs
}

func (c *Config) checkServerURL(warn func(string, ...any)) error {
	const fix = `use e.g. "` + DefaultServerURL + `"`
	u, err := url.Parse(c.ServerURL)
	if err != nil || u.Host == "" {
		return fieldErr("serverUrl", "%q is not a valid URL; %s", c.ServerURL, fix)
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "wss", "https":
	case "ws", "http":
		if !isLoopback(u.Hostname()) {
			if !c.AllowInsecure {
				return fieldErr("serverUrl", "%q is cleartext (%s://) to a non-loopback host; use wss:// or https://, or set \"allowInsecure\": true if you really mean it", c.ServerURL, scheme)
			}
			warn("serverUrl: cleartext %s:// to %s allowed by allowInsecure; traffic and job content are not encrypted", scheme, u.Hostname())
		}
	default:
		return fieldErr("serverUrl", "scheme %q is not supported; %s (ws, wss, http and https are accepted)", u.Scheme, fix)
	}
	return nil
}

// check returns every problem of the node at path p, in order.
func (n *Node) check(p string, warn func(string, ...any)) (errs []error) {
	fail := func(err error) { errs = append(errs, err) }
	if strings.TrimSpace(n.Alias) == "" {
		fail(fieldErr(p+".alias", "missing; give the node a name, e.g. \"GPU-1\""))
	}
	if n.InferenceURI == "" {
		fail(fieldErr(p+".inferenceUri", "missing; set the backend URL, e.g. \"http://localhost:11434\" (Ollama) or \"http://localhost:8000\" (vLLM)"))
	} else if err := checkHTTPURL(p+".inferenceUri", n.InferenceURI); err != nil {
		fail(err)
	}
	switch n.APIMode {
	case APIModeOllama, APIModeOpenAI:
	case "":
		fail(fieldErr(p+".apiMode", "missing; use \"ollama\" or \"openai\""))
	default:
		if strings.EqualFold(n.APIMode, APIModeOllama) || strings.EqualFold(n.APIMode, APIModeOpenAI) {
			fail(fieldErr(p+".apiMode", "%q is not a known API mode; use %q (lower case)", n.APIMode, strings.ToLower(n.APIMode)))
		} else {
			fail(fieldErr(p+".apiMode", "%q is not a known API mode; use \"ollama\" or \"openai\"", n.APIMode))
		}
	}
	switch {
	case n.Region == "":
		fail(fieldErr(p+".region", "missing; use one of %s", strings.Join(Regions, ", ")))
	case !slices.Contains(Regions, n.Region):
		warn("%s.region: %q is not a documented region (%s); the gateway may not route to it", p, n.Region, strings.Join(Regions, ", "))
	}
	if n.Capacity < 1 {
		fail(fieldErr(p+".capacity", "%d is not positive; set how many requests the node serves at once, 1 or more", n.Capacity))
	}
	if n.PricePerThousandTokens != nil && *n.PricePerThousandTokens < 0 {
		fail(fieldErr(p+".pricePerThousandTokens", "%g is negative; use a price in USD per 1K tokens, e.g. %g", *n.PricePerThousandTokens, DefaultPrice))
	}
	if n.TTSURI != "" {
		if err := checkHTTPURL(p+".ttsUri", n.TTSURI); err != nil {
			fail(err)
		}
	}
	for j, m := range n.TTSModels {
		switch {
		case strings.TrimSpace(m) == "":
			fail(fieldErr(fmt.Sprintf("%s.ttsModels[%d]", p, j), "empty model name; remove it or name the TTS model"))
		case strings.HasPrefix(m, "tts:"):
			warn("%s.ttsModels[%d]: %q already has the \"tts:\" prefix, which is added when advertised; write %q", p, j, m, strings.TrimPrefix(m, "tts:"))
		}
	}
	if len(n.TTSModels) > 0 && n.TTSURI == "" {
		warn("%s.ttsModels: ignored because %s.ttsUri is not set; set ttsUri to the TTS server's base URL", p, p)
	}
	return errs
}

// CheckMetricsAddr checks a metrics listen address (metricsAddr, --metrics-addr): host:port
// with a numeric port, and a loopback host (localhost, 127.0.0.1, ::1) unless allowRemote;
// an empty host (":9464") listens on every interface and so counts as remote. The error
// is one line without a field name; callers add theirs.
func CheckMetricsAddr(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port; use e.g. \"127.0.0.1:9464\"", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535; use e.g. \"127.0.0.1:9464\"", addr, port)
	}
	if allowRemote || isLoopback(host) {
		return nil
	}
	what := "is not a loopback address"
	if host == "" || host == "0.0.0.0" || host == "::" {
		what = "listens on every network interface"
	}
	return fmt.Errorf("%q %s, so anyone on the network could read your metrics; use \"127.0.0.1:%s\", "+
		"or opt in with --metrics-allow-remote (\"metricsAllowRemote\": true in config.json)", addr, what, port)
}

func checkHTTPURL(path, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fieldErr(path, "%q is not an http(s) URL; use e.g. \"http://localhost:11434\"", s)
	}
	return nil
}

// isLoopback reports whether host names this machine: localhost or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isBSCAddress(s string) bool {
	if len(s) != 42 || !strings.HasPrefix(strings.ToLower(s), "0x") {
		return false
	}
	for _, r := range s[2:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// jsonError turns a decoding error into one line with a position or field path.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := position(data, syn.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %w; check for a missing comma, quote or brace", line, col, err)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		path := typ.Field
		if path == "" {
			path = "(top level)"
		}
		return fmt.Errorf("%s: expected %s, got a JSON %s: %w", path, kindName(typ.Type), typ.Value, err)
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list [...]"
	case reflect.Struct, reflect.Map:
		return "an object {...}"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return t.String()
}

// position is the 1-based line and column of the byte a json.SyntaxError stopped at
// (its Offset counts the bytes read, the bad one included).
func position(data []byte, off int64) (line, col int) {
	if off > 0 {
		off--
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

var (
	rootKeys = jsonKeys(reflect.TypeFor[Config]())
	nodeKeys = jsonKeys(reflect.TypeFor[Node]())
)

func jsonKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// unknownKeys lists the keys neither Config nor Node knows, as one warning (or "").
// A key that is a known key in another spelling (server_url, ServerURL) gets a hint:
// the original silently ignored those and used the default.
func unknownKeys(root map[string]json.RawMessage) string {
	var found []string
	collect := func(prefix string, obj map[string]json.RawMessage, known []string) {
		var names []string
		for k := range obj {
			if !slices.Contains(known, k) {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		for _, k := range names {
			s := prefix + k
			if hint := spellingOf(k, known); hint != "" {
				s += fmt.Sprintf(" (did you mean %q?)", hint)
			}
			found = append(found, s)
		}
	}
	collect("", root, rootKeys)
	var nodes []map[string]json.RawMessage
	if json.Unmarshal(root["nodes"], &nodes) == nil {
		for i, n := range nodes {
			collect(fmt.Sprintf("nodes[%d].", i), n, nodeKeys)
		}
	}
	if len(found) == 0 {
		return ""
	}
	return "unknown keys ignored: " + strings.Join(found, ", ")
}

func spellingOf(k string, known []string) string {
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s)) }
	for _, kk := range known {
		if norm(kk) == norm(k) {
			return kk
		}
	}
	return ""
}

// Save writes the config as indented JSON to path, atomically (a temp file in the same
// folder, then rename) and readable only by its owner (0600). With keepSecret false the
// apiSecret key is left out, whatever c holds; c itself is not modified. Unknown keys
// read by Load are not preserved. Save does not validate: call Validate first.
func (c *Config) Save(path string, keepSecret bool) error {
	out := *c
	if !keepSecret {
		out.APISecret = ""
	}
	data, err := json.MarshalIndent(&out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}
