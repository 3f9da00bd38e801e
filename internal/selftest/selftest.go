// Package selftest is the operator's offline dry run (`pin-clientd selftest`): it runs
// the operator's real config.json, node by node, through the real relay engine and the
// real backend adapters against a PIN gateway served in-process on 127.0.0.1
// (core/pintest) with throwaway credentials — the operator's API secret is never used
// and nothing leaves the machine except the requests to the operator's own backends.
//
// For each node it
//
//  1. checks the backend (internal/nodecheck.Check: nothing listening, apiMode not
//     matching the server, no models, a model on the CPU) and -n / capacity against a
//     local Ollama's OLLAMA_NUM_PARALLEL;
//  2. starts the engine with only that node and waits until it registers;
//  3. picks the interview model (interviewModel, else the node's first model) and says
//     how to fix a missing one;
//  4. warms the model with one small request, not timed;
//  5. runs its own interview through the gateway (INTERVIEW_REQUEST, DefaultPrompts),
//     graded by normalised exact match (Correct);
//  6. sends a few streaming requests through the gateway and measures the real
//     time to first token from the INFERENCE_CHUNK arrival times;
//  7. computes the tier the published thresholds give (Tier) and, when the node falls
//     short, the reason and the fix in one line each.
//
// Problems are part of the Report, not errors: Run returns an error only when it could
// not run at all (no nodes, a bad -n, ctx ended).
package selftest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/auto"
	"github.com/pin-client/pin-client/backends/detect"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/nodecheck"
)

// Defaults for Options.
const (
	DefaultStreams         = 3
	DefaultRegisterTimeout = 30 * time.Second
	DefaultWarmTimeout     = 5 * time.Minute // a cold model may take minutes to load
	interviewPromptTimeout = 130 * time.Second
	streamTimeout          = 3 * time.Minute
	checkTimeout           = 3 * time.Second
)

// StreamPrompt is what the streaming requests ask; the answer is a few dozen tokens.
const StreamPrompt = "Count from 1 to 20, separated by spaces."

// Options configure Run.
type Options struct {
	// Config is the operator's validated config (config.Load). Run does not modify it
	// and never uses its apiSecret, serverUrl or payout address.
	Config *config.Config
	// Threads is -n, as the daemon would run with it (0 → 1).
	Threads int
	// Streams is the number of streaming requests per node, sent at most
	// min(Threads, capacity) at a time; 0 → max(DefaultStreams, that concurrency).
	Streams int
	// Prompts is the interview; nil → DefaultPrompts.
	Prompts []Prompt
	// Logger receives the engine's and the local gateway's log; nil discards it.
	Logger *slog.Logger
	// Progress gets one line per step as it happens ("[gpu-1] warming llama3:8b (not
	// timed)"); nil discards them.
	Progress io.Writer
	// Getenv reads OLLAMA_NUM_PARALLEL; nil → os.Getenv.
	Getenv func(string) string
	// Detect tunes the backend checks; its Getenv defaults to Getenv above and its
	// Timeout to 3 s.
	Detect detect.Options
	// NewBackend builds the node's adapter; nil → the real ones (backends/auto).
	NewBackend func(config.Node) backends.Backend
	// RegisterTimeout bounds the wait for the engine to register a node
	// (default DefaultRegisterTimeout); WarmTimeout the warm-up request (DefaultWarmTimeout).
	RegisterTimeout time.Duration
	WarmTimeout     time.Duration
}

// Report is the outcome of a self-test.
type Report struct {
	Transport string       `json:"transport"` // the config's transport, used with the local gateway
	Threads   int          `json:"threads"`
	Prompts   []Prompt     `json:"prompts"`
	Nodes     []NodeReport `json:"nodes"`
}

// Failed lists the aliases of the nodes that would fail (tier failed).
func (r *Report) Failed() []string {
	var out []string
	for _, n := range r.Nodes {
		if n.Tier == TierFailed {
			out = append(out, n.Alias)
		}
	}
	return out
}

// NodeReport is one node's result.
type NodeReport struct {
	Alias        string    `json:"alias"`
	InferenceURI string    `json:"inferenceUri"`
	APIMode      string    `json:"apiMode"`
	Models       []string  `json:"models"`          // as registered with the gateway
	Model        string    `json:"model,omitempty"` // the interview model
	Problems     []Problem `json:"problems"`
	Interviewed  bool      `json:"interviewed"`
	Answers      []Answer  `json:"answers"`
	Correct      int       `json:"correct"`
	// AccuracyPct is Correct / number of prompts × 100.
	AccuracyPct float64 `json:"accuracyPct"`
	// TokensPerSec is Σtokens_generated / Σtotal_ms over the interview, as the gateway
	// scores it (§8.4): model load excluded by the warm-up, generation uncapped.
	TokensPerSec float64 `json:"tokensPerSec"`
	// TTFT is each streaming request's time from INFERENCE_REQUEST sent to the first
	// INFERENCE_CHUNK received by the gateway (thinking or content), in sending order.
	TTFT         []time.Duration `json:"-"`
	TTFTMs       []float64       `json:"ttftMs"`
	TTFTMedianMs float64         `json:"ttftMedianMs"`
	// StreamTokensPerSec is Σcompletion_tokens / Σ(result − request) over the streams.
	StreamTokensPerSec float64 `json:"streamTokensPerSec"`
	Tier               string  `json:"tier"`
	Reason             string  `json:"reason"`        // why this tier, one line
	Fix                string  `json:"fix,omitempty"` // how to reach a better one, one line
}

// Answer is one graded interview prompt.
type Answer struct {
	PromptID        string `json:"promptId"`
	Expect          string `json:"expect"`
	Response        string `json:"response"`
	Correct         bool   `json:"correct"`
	TokensGenerated int    `json:"tokensGenerated"`
	TotalMs         int64  `json:"totalMs"`
	TTFTMs          int64  `json:"ttftMs"`
	Error           string `json:"error,omitempty"`
}

// Problem is something wrong with a node, in plain words, with the fix. Severity is
// "error" (the node cannot serve; it is not interviewed), "degraded" (it serves
// slowly) or "warning".
type Problem struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	Fix      string `json:"fix"`
}

// Problem codes of the self-test itself; detect's codes (detect.Code*) pass through.
const (
	CodeModelMissing   = "model-missing"    // interviewModel is not served by the node
	CodeThreadsOver    = "threads-parallel" // -n above OLLAMA_NUM_PARALLEL
	CodeCapacityOver   = "capacity-parallel"
	CodeNotRegistered  = "not-registered" // the engine never registered the node
	CodeWarmFailed     = "warm-failed"
	CodeInterviewError = "interview-error"
	CodeStreamFailed   = "stream-failed"
)

const sevError, sevDegraded, sevWarning = "error", "degraded", "warning"

// Run self-tests every node of opts.Config in order and reports on each.
func Run(ctx context.Context, opts Options) (*Report, error) {
	cfg := opts.Config
	if cfg == nil || len(cfg.Nodes) == 0 {
		return nil, errors.New("config: nodes: at least one node is required")
	}
	if opts.Threads == 0 {
		opts.Threads = 1
	}
	if err := config.ValidateThreads(opts.Threads); err != nil {
		return nil, err
	}
	if opts.Prompts == nil {
		opts.Prompts = DefaultPrompts
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Detect.Getenv == nil {
		opts.Detect.Getenv = opts.Getenv
	}
	if opts.Detect.Timeout == 0 {
		opts.Detect.Timeout = checkTimeout
	}
	if opts.NewBackend == nil {
		opts.NewBackend = auto.Backend(opts.Logger)
	}
	if opts.RegisterTimeout <= 0 {
		opts.RegisterTimeout = DefaultRegisterTimeout
	}
	if opts.WarmTimeout <= 0 {
		opts.WarmTimeout = DefaultWarmTimeout
	}
	transport := config.DefaultTransport
	if cfg.UseWebSocket() {
		transport = "ws"
	}
	rep := &Report{Transport: transport, Threads: opts.Threads, Prompts: opts.Prompts}
	r := &runner{opts: opts, transport: transport}
	for _, nc := range cfg.Nodes {
		nr := r.node(ctx, nc)
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("selftest stopped: %w", err)
		}
		rep.Nodes = append(rep.Nodes, nr)
	}
	return rep, nil
}

type runner struct {
	opts      Options
	transport string
}

func (r *runner) say(alias, format string, args ...any) {
	fmt.Fprintf(r.opts.Progress, "[%s] %s\n", alias, fmt.Sprintf(format, args...))
}

// node runs every step for one node. It always returns a complete report: a step that
// cannot run leaves a Problem and the tier failed.
func (r *runner) node(ctx context.Context, nc config.Node) (nr NodeReport) {
	nr = NodeReport{Alias: nc.Alias, InferenceURI: nc.InferenceURI, APIMode: nc.APIMode,
		Models: []string{}, Problems: []Problem{}, Answers: []Answer{}, TTFTMs: []float64{}}
	defer func() { nr.grade() }()

	r.say(nc.Alias, "checking %s (apiMode %s)", nc.InferenceURI, nc.APIMode)
	nr.Problems = append(nr.Problems, r.check(ctx, nc, nil)...)
	nr.Problems = append(nr.Problems, r.parallel(nc)...)
	if nr.blocked() {
		return nr
	}

	// The engine, alone with this node, against a gateway of its own.
	secret := randomSecret()
	gw, err := pintest.Listen("127.0.0.1:0", pintest.Options{
		ClientID: "op_selftest", Secret: secret, Logger: r.opts.Logger,
		Grade: func(*protocol.InterviewRequest, *protocol.InterviewResult) protocol.Message { return nil }, // we grade
	})
	if err != nil {
		nr.add(CodeNotRegistered, sevError, fmt.Sprintf("cannot start the local gateway: %v", err), "check that 127.0.0.1 accepts local connections")
		return nr
	}
	defer gw.Close()
	eng, err := r.engine(gw, nc, secret)
	if err != nil {
		nr.add(CodeNotRegistered, sevError, err.Error(), "fix the config and run the self-test again")
		return nr
	}
	ectx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(ectx) }()
	defer func() { stop(); <-done }() // before gw.Close (defers run last-in first-out)

	rctx, cancel := context.WithTimeout(ctx, r.opts.RegisterTimeout)
	err = waitOnline(rctx, eng) // registration done on our side (no half-registered stop)
	if err == nil {
		_, err = gw.WaitNodes(rctx, 1) // and the gateway has it (a WS frame may still be in flight)
	}
	cancel()
	reg, registered := gw.Node(nc.Alias)
	if err != nil || !registered {
		why := eng.Status().LastError
		if why == "" {
			why = "no REGISTER_NODE within " + r.opts.RegisterTimeout.String()
		}
		nr.add(CodeNotRegistered, sevError, "the engine did not register the node with the local gateway: "+why,
			"run `pin-clientd selftest -l debug` to see the engine's log")
		return nr
	}
	for _, m := range reg.Models {
		if !strings.HasPrefix(m, "tts:") {
			nr.Models = append(nr.Models, m)
		}
	}
	r.say(nc.Alias, "registered with the local gateway over %s: %d models", r.transport, len(nr.Models))

	model, ok := r.pickModel(&nr, nc)
	if !ok {
		return nr
	}
	nr.Model = model

	r.say(nc.Alias, "warming %s (not timed)", model)
	if !r.warm(ctx, gw, &nr, model) {
		return nr
	}
	// The model is loaded now: only now can the server tell whether it runs on the CPU.
	for _, p := range r.check(ctx, nc, []string{detect.CodeOnCPU, detect.CodePartialGPU}) {
		if !slices.ContainsFunc(nr.Problems, func(q Problem) bool { return q.Code == p.Code && q.Message == p.Message }) {
			nr.Problems = append(nr.Problems, p)
		}
	}

	r.say(nc.Alias, "interview: %d prompts through the local gateway", len(r.opts.Prompts))
	r.interview(ctx, gw, &nr, model)

	c := max(1, min(r.opts.Threads, nc.Capacity))
	streams := r.opts.Streams
	if streams <= 0 {
		streams = max(DefaultStreams, c)
	}
	r.say(nc.Alias, "%d streaming requests through the local gateway, %d at a time", streams, c)
	r.streams(ctx, gw, &nr, model, streams, c)
	return nr
}

// waitOnline blocks until the engine has registered its nodes (state online).
func waitOnline(ctx context.Context, eng *core.Engine) error {
	if eng.Status().State == core.StateOnline {
		return nil
	}
	for st := range eng.Subscribe(ctx) {
		if st.State == core.StateOnline {
			return nil
		}
	}
	return ctx.Err()
}

func (r *runner) engine(gw *pintest.Gateway, nc config.Node, secret string) (*core.Engine, error) {
	base := r.opts.Config
	cfg := &config.Config{
		ClientID: "op_selftest", ServerURL: gw.URL(), Transport: base.Transport,
		ReconnectDelaySecs: 1, Nodes: []config.Node{nc},
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node %s: %w", nc.Alias, err)
	}
	return core.New(core.Options{
		Config: cfg, Secret: protocol.NewSecret(secret), SecretSource: "selftest",
		Threads: r.opts.Threads, NewBackend: r.opts.NewBackend, Logger: r.opts.Logger,
		Grace: 2 * time.Second,
	})
}

// check runs the node check (nodecheck.Check); only, if not nil, keeps the problems
// with those codes.
func (r *runner) check(ctx context.Context, nc config.Node, only []string) []Problem {
	var out []Problem
	for _, p := range nodecheck.Check(ctx, nc, r.opts.Detect).Problems {
		if only != nil && !slices.Contains(only, p.Code) {
			continue
		}
		out = append(out, Problem{Code: p.Code, Severity: string(p.Severity), Message: p.Message, Fix: p.Fix})
	}
	return out
}

// parallel compares -n and the node's capacity with OLLAMA_NUM_PARALLEL for a local
// Ollama: requests above it wait inside Ollama, and their time to first token grows.
// Only this process's environment is known; an Ollama started elsewhere (a service)
// may have another value.
func (r *runner) parallel(nc config.Node) []Problem {
	if nc.APIMode == backends.ModeOpenAI || !loopbackURL(nc.InferenceURI) {
		return nil
	}
	raw := strings.TrimSpace(r.opts.Getenv("OLLAMA_NUM_PARALLEL"))
	p, err := strconv.Atoi(raw)
	if raw == "" || err != nil || p < 1 {
		return nil
	}
	var out []Problem
	if r.opts.Threads > p {
		out = append(out, Problem{Code: CodeThreadsOver, Severity: sevWarning,
			Message: fmt.Sprintf("-n %d is higher than OLLAMA_NUM_PARALLEL=%d: Ollama runs only that many at once, the others wait inside it and their time to first token grows", r.opts.Threads, p),
			Fix:     fmt.Sprintf("run pin-clientd with -n %d, or raise OLLAMA_NUM_PARALLEL in Ollama's environment and restart Ollama", p)})
	}
	if nc.Capacity > p {
		out = append(out, Problem{Code: CodeCapacityOver, Severity: sevWarning,
			Message: fmt.Sprintf("capacity %d is higher than OLLAMA_NUM_PARALLEL=%d: the gateway sends more jobs at once than Ollama runs", nc.Capacity, p),
			Fix:     fmt.Sprintf(`set "capacity": %d for this node, or raise OLLAMA_NUM_PARALLEL and restart Ollama`, p)})
	}
	return out
}

// pickModel chooses the interview model the way the gateway does for this node
// (§8.1): interviewModel, else the first model. Ollama names without a tag mean
// ":latest".
func (r *runner) pickModel(nr *NodeReport, nc config.Node) (string, bool) {
	if nc.InterviewModel != "" {
		if m, ok := resolveModel(nc.InterviewModel, nr.Models); ok {
			return m, true
		}
		fix := fmt.Sprintf("load %s in the server, or ", nc.InterviewModel)
		if nc.APIMode != backends.ModeOpenAI {
			fix = fmt.Sprintf("`ollama pull %s`, or ", nc.InterviewModel)
		}
		if len(nr.Models) > 0 {
			fix += "set interviewModel to one of: " + strings.Join(nr.Models, ", ")
		} else {
			fix += "remove interviewModel"
		}
		nr.add(CodeModelMissing, sevError,
			fmt.Sprintf("interviewModel %s is not served by %s (it serves %s)", nc.InterviewModel, nc.InferenceURI, listOrNone(nr.Models)), fix)
		return "", false
	}
	if len(nr.Models) == 0 {
		if !slices.ContainsFunc(nr.Problems, func(p Problem) bool { return p.Code == detect.CodeNoModels }) {
			fix := "load a model in the server"
			if nc.APIMode != backends.ModeOpenAI {
				fix = "`ollama pull llama3.2` (or any chat model), or set interviewModel"
			}
			nr.add(detect.CodeNoModels, sevError, "the node registered with no models, so it cannot be interviewed", fix)
		}
		return "", false
	}
	return nr.Models[0], true
}

func resolveModel(want string, models []string) (string, bool) {
	if slices.Contains(models, want) {
		return want, true
	}
	for _, m := range models {
		if m == want+":latest" || want == m+":latest" {
			return m, true
		}
	}
	return "", false
}

func listOrNone(ms []string) string {
	if len(ms) == 0 {
		return "no models"
	}
	return strings.Join(ms, ", ")
}

var (
	warmMessages   = json.RawMessage(`[{"role":"user","content":"Say hello."}]`)
	streamMessages = mustJSON([]map[string]string{{"role": "user", "content": StreamPrompt}})
)

// warm loads the model with one small request through the gateway, so the interview
// measures answers, not the model load.
func (r *runner) warm(ctx context.Context, gw *pintest.Gateway, nr *NodeReport, model string) bool {
	wctx, cancel := context.WithTimeout(ctx, r.opts.WarmTimeout)
	defer cancel()
	maxTokens := 8
	res, err := infer(wctx, gw, protocol.InferencePayload{Model: model, Messages: warmMessages, MaxTokens: &maxTokens})
	switch {
	case err != nil:
		nr.add(CodeWarmFailed, sevError, fmt.Sprintf("warm-up request for %s got no answer: %v", model, err),
			"check that the server can load the model (its log says why not)")
		return false
	case !res.OK():
		nr.add(CodeWarmFailed, sevError, fmt.Sprintf("warm-up request for %s failed: %s", model, res.Err),
			"check that the server can load and run the model (its log says why not)")
		return false
	}
	return true
}

func infer(ctx context.Context, gw *pintest.Gateway, p protocol.InferencePayload) (*pintest.Result, error) {
	job, err := gw.Infer(ctx, p)
	if err != nil {
		return nil, err
	}
	return job.Wait(ctx)
}

// interview sends our INTERVIEW_REQUEST for the node (node_id = its alias) and grades
// the INTERVIEW_RESULT.
func (r *runner) interview(ctx context.Context, gw *pintest.Gateway, nr *NodeReport, model string) {
	prompts := make([]protocol.Prompt, len(r.opts.Prompts))
	for i, p := range r.opts.Prompts {
		prompts[i] = protocol.Prompt{ID: p.ID, Prompt: p.Prompt}
	}
	ictx, cancel := context.WithTimeout(ctx, time.Duration(len(prompts))*interviewPromptTimeout)
	defer cancel()
	res, err := gw.Interview(ictx, protocol.InterviewRequest{NodeID: nr.Alias, Model: model, Prompts: prompts})
	if err != nil {
		nr.add(CodeInterviewError, sevError, fmt.Sprintf("the interview got no result: %v", err), "check the server's log; run the self-test again")
		return
	}
	nr.Interviewed = true
	byID := map[string]protocol.PromptResult{}
	for _, pr := range res.Results {
		byID[pr.PromptID] = pr
	}
	tokens, ms := 0, int64(0)
	for _, p := range r.opts.Prompts {
		pr, ok := byID[p.ID]
		a := Answer{PromptID: p.ID, Expect: p.Expect, Response: pr.Response, TokensGenerated: pr.TokensGenerated,
			TotalMs: pr.TotalMs, TTFTMs: pr.TTFTMs, Error: pr.Error}
		if !ok {
			a.Error = "no result for this prompt"
		}
		a.Correct = a.Error == "" && Correct(p.Expect, pr.Response)
		if a.Correct {
			nr.Correct++
		}
		tokens += pr.TokensGenerated
		ms += pr.TotalMs
		nr.Answers = append(nr.Answers, a)
	}
	if n := len(r.opts.Prompts); n > 0 {
		nr.AccuracyPct = 100 * float64(nr.Correct) / float64(n)
	}
	if ms > 0 {
		nr.TokensPerSec = float64(tokens) * 1000 / float64(ms)
	}
}

// streams sends n streaming requests, c at a time, and records each one's time to first
// token as the gateway sees it: from sending the INFERENCE_REQUEST to the arrival of the
// first INFERENCE_CHUNK.
func (r *runner) streams(ctx context.Context, gw *pintest.Gateway, nr *NodeReport, model string, n, c int) {
	type one struct {
		ttft   time.Duration
		took   time.Duration
		tokens int
		err    string
	}
	out := make([]one, n)
	sem := make(chan struct{}, c)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			sctx, cancel := context.WithTimeout(ctx, streamTimeout)
			defer cancel()
			job, err := gw.Infer(sctx, protocol.InferencePayload{Model: model, Messages: streamMessages, Stream: true})
			if err != nil {
				out[i].err = err.Error()
				return
			}
			res, err := job.Wait(sctx)
			switch {
			case err != nil:
				out[i].err = err.Error()
				return
			case !res.OK():
				out[i].err = res.Err
				return
			}
			for _, ch := range job.Chunks() {
				if ch.Delta != "" {
					out[i].ttft = max(ch.Time.Sub(job.Sent), time.Nanosecond)
					break
				}
			}
			out[i].took = res.Time.Sub(job.Sent)
			if chat, err := res.Chat(); err == nil && chat.Usage != nil {
				out[i].tokens = chat.Usage.CompletionTokens
			}
		})
	}
	wg.Wait()
	var tokens int
	var took time.Duration
	var errs []string
	for _, o := range out {
		switch {
		case o.err != "":
			errs = append(errs, o.err)
		case o.ttft == 0:
			errs = append(errs, "the answer came without any streamed chunk")
		default:
			nr.TTFT = append(nr.TTFT, o.ttft)
			nr.TTFTMs = append(nr.TTFTMs, ms(o.ttft))
			tokens += o.tokens
			took += o.took
		}
	}
	if len(errs) > 0 {
		nr.add(CodeStreamFailed, sevError, fmt.Sprintf("%d of %d streaming requests failed: %s", len(errs), n, errs[0]),
			"check the server's log; streaming must work for the gateway's consumers")
	}
	if len(nr.TTFT) > 0 {
		nr.TTFTMedianMs = ms(median(nr.TTFT))
	}
	if took > 0 {
		nr.StreamTokensPerSec = float64(tokens) / took.Seconds()
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (nr *NodeReport) add(code, sev, msg, fix string) {
	nr.Problems = append(nr.Problems, Problem{Code: code, Severity: sev, Message: msg, Fix: fix})
}

// blocked reports whether a problem stops the node from serving.
func (nr *NodeReport) blocked() bool {
	return slices.ContainsFunc(nr.Problems, func(p Problem) bool { return p.Severity == sevError })
}

// grade sets Tier, Reason and Fix from what was measured.
func (nr *NodeReport) grade() {
	if !nr.Interviewed || nr.blocked() {
		nr.Tier = TierFailed
		for _, p := range nr.Problems {
			if p.Severity == sevError {
				nr.Reason, nr.Fix = p.Message, p.Fix
				break
			}
		}
		if nr.Reason == "" {
			nr.Reason, nr.Fix = "not interviewed", "run the self-test again"
		}
		if !nr.Interviewed {
			nr.Reason = "not interviewed: " + nr.Reason
		}
		return
	}
	nr.Tier = Tier(nr.AccuracyPct, nr.TokensPerSec)
	acc := fmt.Sprintf("accuracy %.0f%% (%d of %d)", nr.AccuracyPct, nr.Correct, len(nr.Answers))
	speed := fmt.Sprintf("%.1f tok/s", nr.TokensPerSec)
	const smarter = "serve a stronger instruction-following model (e.g. an 8B instruct model) and name it in interviewModel"
	const faster = "run the model on a GPU, or use a smaller model or a lower quantization"
	switch nr.Tier {
	case TierVerified:
		nr.Reason = fmt.Sprintf("%s and %s: all thresholds passed", acc, speed)
	case TierStandard:
		if nr.AccuracyPct <= 90 {
			nr.Reason, nr.Fix = fmt.Sprintf("%s is not above 90%% for verified (%s)", acc, speed), smarter
		} else {
			nr.Reason, nr.Fix = fmt.Sprintf("%s is not above 20 tok/s for verified (%s)", speed, acc), faster
		}
	case TierSlow:
		nr.Reason = fmt.Sprintf("%s is not above 10 tok/s (%s): budget routing only, and the gateway's 2.2.1 notes say it may reject such nodes", speed, acc)
		nr.Fix = faster
	case TierFailed:
		nr.Reason, nr.Fix = fmt.Sprintf("%s is not above 70%% (%s)", acc, speed), smarter
		var errs int
		for _, a := range nr.Answers {
			if a.Error != "" {
				errs++
			}
		}
		if errs > 0 {
			nr.Reason = fmt.Sprintf("%s; %d prompts failed", nr.Reason, errs)
			if errs == len(nr.Answers) {
				nr.Fix = "every prompt failed, so the backend is broken: check its log"
			}
		}
	}
}

func loopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// randomSecret is a throwaway credential for the in-process gateway.
func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return "pin_sk_selftest_" + hex.EncodeToString(b)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // static values only
	}
	return b
}
