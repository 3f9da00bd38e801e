// Package detect finds the operator's LLM servers and says what they are.
//
// For each place it looks (a host and port, or one URL) it tells which server answers
// there — Ollama, LM Studio, vLLM, llama.cpp server, TGI, LocalAI, KoboldCpp, Jan, or some
// other OpenAI-compatible server — from what the server itself answers, never from the
// port alone; the apiMode pin-client should use with it; its models, loaded or merely
// downloaded where the server tells; and per model what is cheap to learn: context
// length, tool support, reasoning format, and for Ollama whether a loaded model fell back
// to the CPU.
//
//   - Scan probes many hosts and ports in parallel under one short deadline (default
//     DefaultTimeout). It returns within that deadline even when ports are closed or a
//     listener accepts connections and never answers.
//   - Probe identifies the server at one URL and returns an error saying why it could not.
//   - Check probes a configured node and lists its problems in plain words with the
//     fix (unreachable, apiMode that does not match the server, no models, a model running
//     on the CPU although a GPU exists).
//   - WriteTable prints Scan results for people.
//
// Probes only read: GETs of model lists and server info, plus Ollama's POST /api/show
// (metadata; it loads nothing). At most 4 are in flight per server. Every request carries
// a context deadline; no http.Client timeout is relied on. The package uses the standard
// library and the leaf package backends only.
package detect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pin-client/pin-client/backends"
)

// DefaultTimeout bounds a whole Scan or Probe unless Options.Timeout says otherwise.
const DefaultTimeout = 1200 * time.Millisecond

// DefaultPorts are probed on every host: Ollama 11434, LM Studio 1234, vLLM 8000,
// llama.cpp server and LocalAI 8080, KoboldCpp 5001, Jan 1337, TGI 3000.
var DefaultPorts = []int{11434, 1234, 8000, 8080, 5001, 1337, 3000}

// DefaultHosts are scanned when Options.Hosts is empty: loopback, both families.
var DefaultHosts = []string{"127.0.0.1", "::1"}

// Kind is the server software identified at a URL.
type Kind string

// Kinds Scan and Probe can tell apart.
const (
	KindUnknown   Kind = "unknown" // something listens but did not say what it is
	KindOllama    Kind = "ollama"
	KindLMStudio  Kind = "lmstudio"
	KindVLLM      Kind = "vllm"
	KindLlamaCpp  Kind = "llamacpp"
	KindTGI       Kind = "tgi"
	KindLocalAI   Kind = "localai"
	KindKoboldCpp Kind = "koboldcpp"
	KindJan       Kind = "jan"
	KindOpenAI    Kind = "openai-compatible" // answers GET /v1/models, nothing more specific
)

var kindNames = map[Kind]string{
	KindUnknown:   "unknown server",
	KindOllama:    "Ollama",
	KindLMStudio:  "LM Studio",
	KindVLLM:      "vLLM",
	KindLlamaCpp:  "llama.cpp server",
	KindTGI:       "TGI",
	KindLocalAI:   "LocalAI",
	KindKoboldCpp: "KoboldCpp",
	KindJan:       "Jan",
	KindOpenAI:    "OpenAI-compatible server",
}

// Name is the product name operators know, e.g. "LM Studio".
func (k Kind) Name() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return string(k)
}

// APIMode is the config.json apiMode pin-client should use with this kind of server:
// "ollama" for Ollama, "openai" for every other known kind, "" for KindUnknown.
func (k Kind) APIMode() string {
	switch k {
	case KindOllama:
		return backends.ModeOllama
	case KindUnknown, "":
		return ""
	}
	return backends.ModeOpenAI
}

// Tri is an answer a server may not give: Unknown (the zero value), Yes or No. In JSON
// it is true or false, and the field is left out when Unknown (use omitempty).
type Tri int8

const (
	Unknown Tri = iota
	Yes
	No
)

// TriOf converts a known bool.
func TriOf(b bool) Tri {
	if b {
		return Yes
	}
	return No
}

func (t Tri) String() string {
	switch t {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return "unknown"
}

// MarshalJSON encodes Yes as true, No as false and Unknown as null.
func (t Tri) MarshalJSON() ([]byte, error) {
	switch t {
	case Yes:
		return []byte("true"), nil
	case No:
		return []byte("false"), nil
	}
	return []byte("null"), nil
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (t *Tri) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*t = Yes
	case "false":
		*t = No
	case "null":
		*t = Unknown
	default:
		return fmt.Errorf("tri-state: %s is not true, false or null", b)
	}
	return nil
}

// Reasoning formats: how a model's thinking reaches pin-client, when known.
const (
	ReasoningNone     = "none"              // the server says the model does not think
	ReasoningThinking = "thinking"          // Ollama: message.thinking
	ReasoningContent  = "reasoning_content" // OpenAI-compatible: delta.reasoning_content
)

// Model is one model a server offers. Zero values mean "the server did not tell".
type Model struct {
	Name string `json:"name"`
	// Loaded: the model is in memory now. LM Studio with JIT loading and Ollama list every
	// downloaded model; a request for one that is not loaded waits for it to load.
	Loaded Tri `json:"loaded,omitempty"`
	// ContextLength is the context a request gets now: the allocated context of a loaded
	// model where the server tells, else the model's maximum.
	ContextLength int `json:"contextLength,omitempty"`
	// MaxContextLength is the most the model supports (trained or configured maximum).
	MaxContextLength int `json:"maxContextLength,omitempty"`
	// Tools: the model (or its chat template) accepts tool definitions.
	Tools Tri `json:"tools,omitempty"`
	// Reasoning is one of the Reasoning* constants, or "" when unknown.
	Reasoning string `json:"reasoning,omitempty"`
	// Embedding marks embedding-only models, which cannot serve chat jobs.
	Embedding bool `json:"embedding,omitempty"`
	// OnCPU: loaded entirely in system memory (Ollama /api/ps size_vram 0).
	OnCPU bool `json:"onCpu,omitempty"`
	// Size and VRAM are the bytes a loaded Ollama model takes, in total and in GPU memory.
	Size int64 `json:"size,omitempty"`
	VRAM int64 `json:"vram,omitempty"`
}

// Server is what answered at one URL.
type Server struct {
	URL     string  `json:"url"` // base URL, no trailing slash: the node's inferenceUri
	Kind    Kind    `json:"kind"`
	APIMode string  `json:"apiMode,omitempty"` // what the engine should use here
	Version string  `json:"version,omitempty"`
	Models  []Model `json:"models"`
	// Parallel is a capacity hint: how many requests the server runs at once. Ollama:
	// OLLAMA_NUM_PARALLEL from this process's environment when the server is local;
	// llama.cpp: total_slots; otherwise 1.
	Parallel int `json:"parallel"`
	// Err says why identification or listing failed; the fields above hold what was
	// learnt before it. It wraps one of the sentinel errors of this package or
	// backends.ErrUnreachable.
	Err error `json:"-"`
}

// MarshalJSON adds "error" (Err's text) and always writes "models" as an array.
func (s Server) MarshalJSON() ([]byte, error) {
	type plain Server
	out := struct {
		plain
		Models []Model `json:"models"`
		Error  string  `json:"error,omitempty"`
	}{plain: plain(s), Models: s.Models}
	if out.Models == nil {
		out.Models = []Model{}
	}
	if s.Err != nil {
		out.Error = s.Err.Error()
	}
	return json.Marshal(out)
}

// ChatModels are the models that can serve chat jobs (embedding models left out).
func (s Server) ChatModels() []Model {
	var out []Model
	for _, m := range s.Models {
		if !m.Embedding {
			out = append(out, m)
		}
	}
	return out
}

// Sentinel errors in Server.Err and Probe's error (errors.Is). An unreachable URL wraps
// backends.ErrUnreachable.
var (
	// ErrNoAnswer: a connection was accepted but no HTTP answer came before the deadline
	// (a server still loading, a hung process, or something that is not HTTP).
	ErrNoAnswer = errors.New("accepted the connection but did not answer")
	// ErrAuthRequired: the server refused the probes with 401/403; it needs an API token.
	ErrAuthRequired = errors.New("requires an API token")
	// ErrNotLLMServer: something answered HTTP, but no LLM server API this package knows.
	ErrNotLLMServer = fmt.Errorf("does not answer any known LLM server API: %w", backends.ErrBadResponse)
	// ErrBadURL: the URL given to Probe or Check is not an http(s) base URL.
	ErrBadURL = errors.New("not an http(s) URL")
)

// Options tune Scan, Probe and Check. The zero value is ready to use.
type Options struct {
	// Hosts to scan (names or IP addresses, no scheme or port). Empty: DefaultHosts.
	Hosts []string
	// Ports are probed in addition to DefaultPorts (unless NoDefaultPorts).
	Ports []int
	// NoDefaultPorts limits Scan to Ports (and OLLAMA_HOST's port).
	NoDefaultPorts bool
	// Timeout bounds the whole Scan or Probe (a deadline on ctx applies too, whichever
	// is earlier). Zero: DefaultTimeout.
	Timeout time.Duration
	// HTTPClient sends the probes. Nil: a client without proxy that dials with
	// DialContext. Its Timeout should be zero: every request has a context deadline.
	HTTPClient *http.Client
	// DialContext checks that something listens before probing and, when HTTPClient is
	// nil, carries the probes. Nil: a net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// APIKey, when set, is sent as "Authorization: Bearer <APIKey>" to every server
	// probed: LM Studio's API token, Jan's API key, vLLM's --api-key. It never appears
	// in errors or logs.
	APIKey string
	// Logger gets one debug record per probe. Nil: discard.
	Logger *slog.Logger
	// Getenv reads OLLAMA_NUM_PARALLEL and OLLAMA_HOST. Nil: os.Getenv.
	Getenv func(string) string
	// GPU reports whether the machine running the server has a GPU the server could use.
	// Nil: LocalGPU for a loopback server, Unknown otherwise. Only Check uses it.
	GPU func() Tri
}

// prober carries one Scan's or Probe's settings.
type prober struct {
	client  *http.Client
	ownTr   *http.Transport // the transport we made, closed when done; nil if caller's
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	apiKey  string
	log     *slog.Logger
	getenv  func(string) string
	timeout time.Duration

	mu    sync.Mutex               // guards slots
	slots map[string]chan struct{} // per host:port, limits requests in flight
}

// perServer is how many probes run at once against one server. llama.cpp server
// (cpp-httplib) and KoboldCpp (Python http.server) listen with a backlog of 5: a larger
// burst of connections overflows it, the kernel drops SYNs, and the retry a second later
// would eat the whole scan deadline.
const perServer = 4

// slot returns the semaphore for hostport.
func (p *prober) slot(hostport string) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.slots == nil {
		p.slots = map[string]chan struct{}{}
	}
	c, ok := p.slots[hostport]
	if !ok {
		c = make(chan struct{}, perServer)
		p.slots[hostport] = c
	}
	return c
}

func newProber(opts Options) *prober {
	p := &prober{
		client:  opts.HTTPClient,
		dial:    opts.DialContext,
		apiKey:  opts.APIKey,
		log:     opts.Logger,
		getenv:  opts.Getenv,
		timeout: opts.Timeout,
	}
	if p.dial == nil {
		p.dial = (&net.Dialer{}).DialContext
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.getenv == nil {
		p.getenv = os.Getenv
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.client == nil {
		p.ownTr = &http.Transport{
			Proxy:               nil, // local servers: never through a proxy
			DialContext:         p.dial,
			MaxIdleConnsPerHost: 4,
			ForceAttemptHTTP2:   false,
		}
		p.client = &http.Client{Transport: p.ownTr}
	}
	return p
}

func (p *prober) close() {
	if p.ownTr != nil {
		p.ownTr.CloseIdleConnections()
	}
}

// maxBody bounds what is read of any probe answer (llama.cpp /props carries the chat
// template; Ollama /api/show the license).
const maxBody = 4 << 20

// reply is one probe's outcome. status is 0 when no HTTP answer came (err says why).
type reply struct {
	status int
	body   []byte
	err    error
}

func (r reply) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

func (r reply) denied() bool {
	return r.err == nil && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden)
}

// decode unmarshals a 2xx JSON answer into v and reports whether that worked.
func (r reply) decode(v any) bool {
	return r.ok() && json.Unmarshal(r.body, v) == nil
}

// do sends one probe. body nil means GET, else POST with a JSON body.
func (p *prober) do(ctx context.Context, base *url.URL, path string, body []byte) reply {
	slot := p.slot(base.Host)
	select {
	case slot <- struct{}{}:
		defer func() { <-slot }()
	case <-ctx.Done():
		return reply{err: ctx.Err()}
	}
	u := base.JoinPath(path)
	method := http.MethodGet
	var rd io.Reader
	if body != nil {
		method = http.MethodPost
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return reply{err: err}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if p.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+p.apiKey)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.log.Debug("detect probe", "url", u.Redacted(), "method", method, "err", err)
		return reply{err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	p.log.Debug("detect probe", "url", u.Redacted(), "method", method, "status", resp.StatusCode, "bytes", len(data))
	if err != nil {
		return reply{status: resp.StatusCode, err: err}
	}
	return reply{status: resp.StatusCode, body: data}
}

// Scan probes every host × port in parallel and returns the servers found, in host then
// port order. Closed ports and listeners that answer HTTP but no LLM API are left out; a
// listener that accepts but never answers, or that refuses the probes for want of an
// API token, is returned with Err set. Scan returns by its deadline (opts.Timeout, or
// ctx's if earlier) whatever the listeners do; a server still being listed then keeps
// what was learnt so far.
func Scan(ctx context.Context, opts Options) []Server {
	p := newProber(opts)
	defer p.close()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()

	targets := scanTargets(opts, p.getenv)
	found := make([]*Server, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			if !p.listening(ctx, hostPort(t)) {
				return
			}
			s := p.identify(ctx, t)
			if errors.Is(s.Err, ErrNotLLMServer) {
				return
			}
			found[i] = &s
		})
	}
	wg.Wait()

	// The same server often listens on 127.0.0.1 and ::1: keep the first answer per port
	// among loopback addresses.
	var out []Server
	seenLoopback := map[string]bool{}
	for i, s := range found {
		if s == nil {
			continue
		}
		if isLoopback(targets[i].Hostname()) {
			port := targets[i].Port()
			if seenLoopback[port] {
				continue
			}
			seenLoopback[port] = true
		}
		out = append(out, *s)
	}
	return out
}

// Probe identifies the server at one base URL (e.g. "http://127.0.0.1:11434"; trailing
// slashes are ignored). The error is nil when a known LLM server answered and its
// models could be listed; otherwise it says why, wraps backends.ErrUnreachable or one
// of ErrNoAnswer, ErrAuthRequired, ErrNotLLMServer, ErrBadURL, and equals Server.Err.
func Probe(ctx context.Context, rawURL string, opts Options) (Server, error) {
	base, err := parseBaseURL(rawURL)
	if err != nil {
		return Server{URL: rawURL, Kind: KindUnknown, Err: err}, err
	}
	p := newProber(opts)
	defer p.close()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()

	if err := p.dialCheck(ctx, hostPort(base)); err != nil {
		err = fmt.Errorf("nothing answers at %s: %w (%w)", base, backends.ErrUnreachable, err)
		return Server{URL: base.String(), Kind: KindUnknown, Err: err}, err
	}
	s := p.identify(ctx, base)
	return s, s.Err
}

// parseBaseURL accepts an http(s) URL with a host and strips trailing slashes (§6).
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is %w; use e.g. http://127.0.0.1:11434", raw, ErrBadURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// scanTargets lists base URLs in host then port order: DefaultPorts (unless
// NoDefaultPorts), opts.Ports, and the address in OLLAMA_HOST.
func scanTargets(opts Options, getenv func(string) string) []*url.URL {
	hosts := opts.Hosts
	if len(hosts) == 0 {
		hosts = DefaultHosts
	}
	var ports []int
	if !opts.NoDefaultPorts {
		ports = append(ports, DefaultPorts...)
	}
	ports = append(ports, opts.Ports...)

	var extra *url.URL
	if oh := ollamaHost(getenv("OLLAMA_HOST")); oh != nil {
		if wildcardOrLoopback(oh.Hostname()) {
			if port, err := strconv.Atoi(oh.Port()); err == nil {
				ports = append(ports, port)
			}
		} else if len(opts.Hosts) == 0 {
			extra = oh // a specific host in OLLAMA_HOST: scan it too
		}
	}

	var out []*url.URL
	seen := map[string]bool{}
	add := func(u *url.URL) {
		if !seen[u.String()] {
			seen[u.String()] = true
			out = append(out, u)
		}
	}
	for _, h := range hosts {
		for _, port := range ports {
			if port <= 0 || port > 65535 {
				continue
			}
			add(&url.URL{Scheme: "http", Host: net.JoinHostPort(h, strconv.Itoa(port))})
		}
	}
	if extra != nil {
		add(extra)
	}
	return out
}

// ollamaHost parses OLLAMA_HOST as Ollama does: [scheme://]host[:port], default port
// 11434. Nil when unset or unparsable.
func ollamaHost(v string) *url.URL {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	if !strings.Contains(v, "://") {
		v = "http://" + v
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "11434"
	}
	return &url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(host, port)}
}

func wildcardOrLoopback(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::" || isLoopback(host)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listening reports whether a TCP connection to hostport succeeds before ctx ends.
func (p *prober) listening(ctx context.Context, hostport string) bool {
	return p.dialCheck(ctx, hostport) == nil
}

func (p *prober) dialCheck(ctx context.Context, hostport string) error {
	c, err := p.dial(ctx, "tcp", hostport)
	if err != nil {
		return err
	}
	c.Close()
	return nil
}

// hostPort is u's host:port, with the scheme's default port when u names none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// portHint guesses the product from a well-known port; used only when a server refuses
// every probe (401) and so cannot be identified by its answers.
func portHint(port string) Kind {
	switch port {
	case "11434":
		return KindOllama
	case "1234":
		return KindLMStudio
	case "8000":
		return KindVLLM
	case "1337":
		return KindJan
	case "5001":
		return KindKoboldCpp
	}
	return KindUnknown
}
