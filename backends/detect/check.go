package detect

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/pin-client/pin-client/backends"
)

// Severity says how bad a Problem is.
type Severity string

const (
	// SevError: the node cannot serve jobs as configured.
	SevError Severity = "error"
	// SevDegraded: the node serves, but much slower than it should (e.g. model on CPU).
	SevDegraded Severity = "degraded"
	// SevWarning: worth fixing, does not stop or slow the node much.
	SevWarning Severity = "warning"
)

// Problem codes, for callers that branch on them.
const (
	CodeBadURL       = "bad-url"       // inferenceUri is not an http(s) URL
	CodeURLPath      = "url-path"      // inferenceUri ends in /v1 or /api
	CodeUnreachable  = "unreachable"   // nothing listens there
	CodeNoAnswer     = "no-answer"     // accepted, never answered
	CodeAuth         = "auth"          // wants an API token
	CodeNotLLM       = "not-llm"       // answers HTTP, but no LLM server API
	CodeModeMismatch = "mode-mismatch" // apiMode does not fit the server
	CodeNoModels     = "no-models"     // the server offers no chat model
	CodeListFailed   = "list-failed"   // identified, but its model list failed
	CodeNotLoaded    = "not-loaded"    // models only load on the first request
	CodeOnCPU        = "on-cpu"        // a loaded model runs on the CPU though a GPU exists
	CodePartialGPU   = "partial-gpu"   // a loaded model is split between GPU and CPU
)

// Problem is one thing wrong with a configured node, in plain words, with the fix.
type Problem struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`         // what is wrong
	Fix      string   `json:"fix"`             // what to do about it
	Model    string   `json:"model,omitempty"` // set when the problem is one model's
}

func (p Problem) String() string { return p.Message + "; fix: " + p.Fix }

// Report is what Check learnt about one configured backend.
type Report struct {
	// Server is what answered there (Kind KindUnknown when nothing known did).
	Server Server `json:"server"`
	// Models are the names of all models the server lists (what the node registers
	// with), sorted; nil when the list could not be read.
	Models []string `json:"models"`
	// Problems are what is wrong, most severe first, each with its fix; none: ready.
	Problems []Problem `json:"problems,omitempty"`
}

// OK reports whether the node can serve: no SevError problem.
func (r Report) OK() bool { return r.Err() == "" }

// Err is the problem that stops the node from serving, as one line with its fix
// ("message; fix: ..."), or "" when none does.
func (r Report) Err() string {
	if len(r.Problems) > 0 && r.Problems[0].Severity == SevError {
		return r.Problems[0].String()
	}
	return ""
}

// ChatModels are the names of the models that chat (no embedding models), sorted.
func (r Report) ChatModels() []string {
	if r.Models == nil {
		return nil
	}
	var out []string
	for _, m := range r.Server.ChatModels() {
		out = append(out, m.Name)
	}
	slices.Sort(out)
	return out
}

// Check is the one backend check of pin-client (the engine's node check, `pin-clientd
// status`, selftest, the app's Test button): it probes a configured node's backend (its
// inferenceUri and apiMode; opts.APIKey for a server that wants one) once and returns
// what answered, its models and its problems in plain words with the fix. As in the
// original daemon any apiMode other than "openai" is treated as "ollama". It returns by
// opts.Timeout like Probe and never sends a chat request.
func Check(ctx context.Context, uri, apiMode string, opts Options) Report {
	var r Report
	r.Problems = checkNode(ctx, uri, apiMode, opts, &r)
	return r
}

// checkNode is Check's problems; it fills r's Server and Models from its probe.
func checkNode(ctx context.Context, uri, apiMode string, opts Options, r *Report) []Problem {
	var probs []Problem
	add := func(code string, sev Severity, model, fix, format string, args ...any) {
		probs = append(probs, Problem{Code: code, Severity: sev, Model: model, Message: fmt.Sprintf(format, args...), Fix: fix})
	}
	mode := backends.ModeOllama
	if apiMode == backends.ModeOpenAI {
		mode = backends.ModeOpenAI
	}

	base, err := parseBaseURL(uri)
	if err != nil {
		add(CodeBadURL, SevError, "", `set inferenceUri to the server's base URL, e.g. "http://127.0.0.1:11434"`, "inferenceUri %q is not an http(s) URL", uri)
		return probs
	}
	// pin-client appends /api/... or /v1/... itself (§6), so a base ending in them breaks.
	for _, suffix := range []string{"/v1", "/api"} {
		if strings.HasSuffix(strings.ToLower(base.Path), suffix) {
			trimmed := *base
			trimmed.Path = base.Path[:len(base.Path)-len(suffix)]
			add(CodeURLPath, SevError, "", fmt.Sprintf("set inferenceUri to %q; pin-client adds %s itself", trimmed.String(), suffix),
				"inferenceUri %s ends in %s", base, suffix)
			base = &trimmed
			break
		}
	}

	s, err := Probe(ctx, base.String(), opts)
	r.Server = s
	if err == nil && s.Err == nil {
		r.Models = []string{}
		for _, m := range s.Models {
			r.Models = append(r.Models, m.Name)
		}
		slices.Sort(r.Models)
	}
	switch {
	case errors.Is(err, backends.ErrUnreachable):
		add(CodeUnreachable, SevError, "", "start the LLM server (e.g. `ollama serve`, or the server in LM Studio's Developer tab), or correct inferenceUri; `pin-clientd detect` lists the servers it finds",
			"nothing listens at %s", base)
		return probs
	case errors.Is(err, ErrNoAnswer):
		add(CodeNoAnswer, SevError, "", "wait for the server to finish starting or loading, or restart it; check that inferenceUri names the LLM server's port",
			"%s accepts connections but sent no answer in time", base)
		return probs
	case errors.Is(err, ErrAuthRequired):
		add(CodeAuth, SevError, "", authFix(s.Kind), "%s at %s requires an API token", nameOr(s.Kind, "the server"), base)
		return probs
	case errors.Is(err, ErrNotLLMServer):
		add(CodeNotLLM, SevError, "", "check the port: Ollama uses 11434, LM Studio 1234, vLLM 8000, llama.cpp 8080, KoboldCpp 5001, Jan 1337; `pin-clientd detect` lists what it finds",
			"%s answers, but it is not an LLM server pin-client knows", base)
		return probs
	case err != nil && s.Kind == KindUnknown:
		add(CodeUnreachable, SevError, "", "check inferenceUri and that the server is running", "%s: %v", base, err)
		return probs
	}

	if s.APIMode != mode {
		switch {
		case s.Kind == KindOllama: // Ollama also serves the OpenAI API at /v1
			add(CodeModeMismatch, SevWarning, "", `set "apiMode": "ollama" for this node`,
				"%s is Ollama; apiMode %q works through Ollama's OpenAI-compatible API, but \"ollama\" is its native API and reports thinking separately", base, apiMode)
		default:
			add(CodeModeMismatch, SevError, "", fmt.Sprintf(`set "apiMode": %q for this node`, s.APIMode),
				"%s is %s, which speaks the OpenAI API, but apiMode is %q", base, s.Kind.Name(), apiMode)
		}
	}
	if s.Err != nil {
		add(CodeListFailed, SevError, "", "check the server's log; restart it if it keeps failing", "%v", s.Err)
		return sortProblems(probs)
	}

	chat := s.ChatModels()
	if len(chat) == 0 {
		add(CodeNoModels, SevError, "", noModelsFix(s.Kind), "%s at %s offers no chat model, so the node would register with none", s.Kind.Name(), base)
		return sortProblems(probs)
	}

	loaded := 0
	for _, m := range chat {
		if m.Loaded == Yes {
			loaded++
		}
	}
	if s.Kind == KindLMStudio && loaded == 0 {
		add(CodeNotLoaded, SevWarning, "", "load the model you want to serve in LM Studio (or `lms load <model>`) so the first job does not wait for it",
			"LM Studio at %s has no model loaded; each is loaded on its first request (JIT loading), which can take a minute", base)
	}

	gpu := gpuPresent(opts, base, s)
	for _, m := range chat {
		switch {
		case m.Loaded != Yes:
		case m.OnCPU && gpu == Yes:
			add(CodeOnCPU, SevDegraded, m.Name,
				"check the GPU driver (nvidia-smi / rocm-smi) and free GPU memory, then restart Ollama; a smaller model or quantization may fit",
				"model %s runs on the CPU although this machine has a GPU (Ollama /api/ps size_vram 0)", m.Name)
		case m.VRAM > 0 && m.Size > m.VRAM:
			add(CodePartialGPU, SevWarning, m.Name,
				"use a smaller model or quantization, or a shorter context (OLLAMA_CONTEXT_LENGTH), so it fits in GPU memory",
				"model %s is only %d%% in GPU memory; the rest runs on the CPU", m.Name, m.VRAM*100/m.Size)
		}
	}
	return sortProblems(probs)
}

// gpuPresent: the caller's answer, else evidence from the server (a model in VRAM),
// else LocalGPU for a loopback server.
func gpuPresent(opts Options, base *url.URL, s Server) Tri {
	for _, m := range s.Models {
		if m.VRAM > 0 {
			return Yes
		}
	}
	if opts.GPU != nil {
		return opts.GPU()
	}
	if isLoopback(base.Hostname()) {
		return LocalGPU()
	}
	return Unknown
}

func sortProblems(ps []Problem) []Problem {
	rank := map[Severity]int{SevError: 0, SevDegraded: 1, SevWarning: 2}
	// insertion sort: a handful of items, stable
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && rank[ps[j].Severity] < rank[ps[j-1].Severity]; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
	return ps
}

func nameOr(k Kind, fallback string) string {
	if k == KindUnknown || k == "" {
		return fallback
	}
	return k.Name()
}

// authFix says where the token comes from for the products that use one.
func authFix(k Kind) string {
	switch k {
	case KindLMStudio:
		return "give pin-client the LM Studio API token (LM Studio → Developer → Server Settings), or turn off \"Require Authentication\" there"
	case KindJan:
		return "give pin-client the API key set in Jan → Settings → Local API Server"
	case KindVLLM:
		return "give pin-client the key vLLM was started with (--api-key / VLLM_API_KEY), or start vLLM without one on a loopback address"
	}
	return "give pin-client the server's API token, or turn authentication off on a server bound to loopback"
}

func noModelsFix(k Kind) string {
	switch k {
	case KindOllama:
		return "pull one, e.g. `ollama pull llama3.2`"
	case KindLMStudio:
		return "download a model in LM Studio (Discover tab) or with `lms get <model>`"
	case KindLocalAI:
		return "install a model from the LocalAI gallery (`local-ai models install <name>`)"
	}
	return "start the server with a model loaded"
}
