package selftest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/backends/detect"
	"github.com/pin-client/pin-client/internal/config"
)

// answers is a responder that answers every DefaultPrompts question correctly (with
// thinking first, which must not count), the warm-up briefly and anything else with
// a count. 1000 completion tokens per answer and a 1 ms first token keep the measured
// speed far above 20 tok/s whatever the machine (total_ms ≥ 1 and ≪ 50 s).
func answers(r backendtest.Request) backendtest.Script {
	var body struct {
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
	}
	_ = r.Decode(&body)
	prompt := ""
	if len(body.Messages) > 0 {
		prompt = body.Messages[len(body.Messages)-1].Content
	}
	s := backendtest.Answer("1 2 3")
	for _, p := range DefaultPrompts {
		if p.Prompt == prompt {
			s = backendtest.Answer(p.Expect, ".").Thinking("The user wants ", "hello hello")
		}
	}
	s.Usage = &backends.Usage{PromptTokens: 10, CompletionTokens: 1000, TotalTokens: 1010}
	s.TTFT = time.Millisecond
	return s
}

// hello answers like the tiny e2e model.
func hello(backendtest.Request) backendtest.Script {
	s := backendtest.Answer(" hello", " hello", " hello")
	s.TTFT = time.Millisecond
	return s
}

type setup struct {
	nodes   []config.Node
	threads int
	env     map[string]string
	gpu     detect.Tri
	mod     func(*config.Config)
}

func run(t *testing.T, s setup) (*Report, string) {
	t.Helper()
	cfg := &config.Config{ClientID: "op_mytest", APISecret: "pin_sk_must_not_be_used", Nodes: s.nodes}
	if s.mod != nil {
		s.mod(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var progress bytes.Buffer
	gpu := s.gpu
	rep, err := Run(ctx, Options{
		Config: cfg, Threads: s.threads, Progress: &progress,
		Getenv:          func(k string) string { return s.env[k] },
		Detect:          detect.Options{GPU: func() detect.Tri { return gpu }},
		RegisterTimeout: 20 * time.Second, WarmTimeout: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Nodes) != len(s.nodes) {
		t.Fatalf("%d node reports for %d nodes", len(rep.Nodes), len(s.nodes))
	}
	var text bytes.Buffer
	if err := WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(progress.String()+text.String(), "pin_sk_must_not_be_used") {
		t.Error("the config's apiSecret appears in the output")
	}
	return rep, progress.String() + text.String()
}

func node(alias, uri, mode string) config.Node {
	return config.Node{Alias: alias, InferenceURI: uri, APIMode: mode, Region: "global", Capacity: 1}
}

func problem(t *testing.T, nr NodeReport, code string) Problem {
	t.Helper()
	for _, p := range nr.Problems {
		if p.Code == code {
			return p
		}
	}
	t.Fatalf("node %s: no %s problem in %+v", nr.Alias, code, nr.Problems)
	return Problem{}
}

func TestPassingNodeEndToEnd(t *testing.T) {
	for _, tr := range []string{"sse", "ws"} {
		t.Run(tr, func(t *testing.T) {
			f := backendtest.NewOllama(t, backendtest.Script{})
			f.SetResponder(answers)
			rep, out := run(t, setup{
				nodes: []config.Node{node("gpu-1", f.URL, "ollama")},
				mod:   func(c *config.Config) { c.Transport = tr },
			})
			nr := rep.Nodes[0]
			if nr.Tier != TierVerified || !nr.Interviewed || nr.Correct != len(DefaultPrompts) || nr.AccuracyPct != 100 {
				t.Fatalf("tier %s interviewed %v correct %d acc %v: %s; problems %+v; answers %+v",
					nr.Tier, nr.Interviewed, nr.Correct, nr.AccuracyPct, nr.Reason, nr.Problems, nr.Answers)
			}
			if len(nr.Problems) != 0 || nr.Fix != "" || len(rep.Failed()) != 0 {
				t.Errorf("problems %+v, fix %q, failed %v", nr.Problems, nr.Fix, rep.Failed())
			}
			if nr.Model != "llama3:8b" { // no interviewModel: the first model
				t.Errorf("interview model %q", nr.Model)
			}
			if nr.TokensPerSec <= 20 {
				t.Errorf("tokens/s %v", nr.TokensPerSec)
			}
			if len(nr.TTFT) != DefaultStreams || len(nr.TTFTMs) != DefaultStreams || nr.TTFTMedianMs <= 0 {
				t.Errorf("TTFT %v, median %v ms", nr.TTFT, nr.TTFTMedianMs)
			}
			for _, d := range nr.TTFT {
				if d <= 0 {
					t.Errorf("TTFT %v", d)
				}
			}
			// The chain really ran: the warm-up first, then the interview's prompts in
			// order, then the streams, all through the engine to this backend.
			var chats []backendtest.Request
			for _, r := range f.Requests() {
				if r.Path == "/api/chat" {
					chats = append(chats, r)
				}
			}
			if want := 1 + len(DefaultPrompts) + DefaultStreams; len(chats) != want {
				t.Fatalf("%d chat requests, want %d", len(chats), want)
			}
			if !bytes.Contains(chats[0].Body, []byte("Say hello.")) {
				t.Errorf("first request is not the warm-up: %s", chats[0].Body)
			}
			for i, p := range DefaultPrompts {
				if !bytes.Contains(chats[1+i].Body, []byte(p.Prompt)) {
					t.Errorf("request %d is not prompt %s: %s", 1+i, p.ID, chats[1+i].Body)
				}
			}
			for _, r := range chats[1+len(DefaultPrompts):] {
				if !r.Stream || !bytes.Contains(r.Body, []byte("Count from 1 to 20")) {
					t.Errorf("not a streaming request: %s", r.Body)
				}
			}
			for _, want := range []string{"warming llama3:8b (not timed)", "TTFT p50", "TOK/S", "verified", "100% (6/6)", "✓ capital"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestFailingInterview(t *testing.T) {
	f := backendtest.NewOpenAI(t, backendtest.VLLM, backendtest.Script{})
	f.SetResponder(hello)
	rep, out := run(t, setup{nodes: []config.Node{node("tiny", f.URL, "openai")}})
	nr := rep.Nodes[0]
	if nr.Tier != TierFailed || !nr.Interviewed || nr.Correct != 0 || len(nr.Answers) != len(DefaultPrompts) {
		t.Fatalf("%+v", nr)
	}
	if got := rep.Failed(); len(got) != 1 || got[0] != "tiny" {
		t.Errorf("Failed() = %v", got)
	}
	if len(nr.TTFT) != DefaultStreams { // streaming still measured
		t.Errorf("TTFT %v", nr.TTFT)
	}
	if !strings.Contains(nr.Reason, "accuracy 0% (0 of 6) is not above 70%") || !strings.Contains(nr.Fix, "interviewModel") {
		t.Errorf("reason %q fix %q", nr.Reason, nr.Fix)
	}
	if !strings.Contains(out, `✗ capital    want "Paris"  got "hello hello hello"`) {
		t.Errorf("answers not shown:\n%s", out)
	}
}

func TestFixIts(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		uri := srv.URL
		srv.Close() // nothing listens there now
		rep, out := run(t, setup{nodes: []config.Node{node("gone", uri, "ollama")}})
		nr := rep.Nodes[0]
		p := problem(t, nr, detect.CodeUnreachable)
		if p.Severity != sevError || !strings.Contains(p.Fix, "ollama serve") || !strings.Contains(p.Message, "nothing listens") {
			t.Errorf("%+v", p)
		}
		if nr.Tier != TierFailed || nr.Interviewed || len(rep.Failed()) != 1 {
			t.Errorf("tier %s interviewed %v", nr.Tier, nr.Interviewed)
		}
		if !strings.Contains(out, "fix: start the LLM server") || !strings.Contains(out, "not interviewed") {
			t.Errorf("output:\n%s", out)
		}
	})

	t.Run("apiMode mismatch", func(t *testing.T) {
		f := backendtest.NewOpenAI(t, backendtest.LMStudio, backendtest.Answer("x"))
		rep, out := run(t, setup{nodes: []config.Node{node("lms", f.URL, "ollama")}})
		p := problem(t, rep.Nodes[0], detect.CodeModeMismatch)
		if p.Severity != sevError || p.Fix != `set "apiMode": "openai" for this node` {
			t.Errorf("%+v", p)
		}
		if rep.Nodes[0].Tier != TierFailed || !strings.Contains(out, `fix: set "apiMode": "openai"`) {
			t.Errorf("tier %s, output:\n%s", rep.Nodes[0].Tier, out)
		}
		if len(f.Requests()) == 0 {
			t.Error("the backend was never probed")
		}
	})

	t.Run("model missing ollama", func(t *testing.T) {
		f := backendtest.NewOllama(t, backendtest.Answer("x"))
		f.SetModels("llama3:8b", "qwen3:0.6b")
		n := node("gpu-1", f.URL, "ollama")
		n.InterviewModel = "mistral:7b"
		rep, out := run(t, setup{nodes: []config.Node{n}})
		p := problem(t, rep.Nodes[0], CodeModelMissing)
		want := "`ollama pull mistral:7b`, or set interviewModel to one of: llama3:8b, qwen3:0.6b"
		if p.Severity != sevError || p.Fix != want {
			t.Errorf("fix %q, want %q", p.Fix, want)
		}
		if rep.Nodes[0].Tier != TierFailed || !strings.Contains(out, "fix: "+want) {
			t.Errorf("output:\n%s", out)
		}
		for _, r := range f.Requests() {
			if r.Path == "/api/chat" {
				t.Errorf("a chat request was sent for a missing model: %s", r.Body)
			}
		}
	})

	t.Run("model missing openai", func(t *testing.T) {
		f := backendtest.NewOpenAI(t, backendtest.LlamaCpp, backendtest.Answer("x"))
		n := node("gpu-1", f.URL, "openai")
		n.InterviewModel = "qwen3:8b"
		rep, _ := run(t, setup{nodes: []config.Node{n}})
		p := problem(t, rep.Nodes[0], CodeModelMissing)
		if want := "load qwen3:8b in the server, or set interviewModel to one of: local-model"; p.Fix != want {
			t.Errorf("fix %q, want %q", p.Fix, want)
		}
	})

	t.Run("interviewModel without tag means latest", func(t *testing.T) {
		f := backendtest.NewOllama(t, backendtest.Script{})
		f.SetResponder(answers)
		f.SetModels("tiny-tools:latest", "tiny:latest")
		n := node("gpu-1", f.URL, "ollama")
		n.InterviewModel = "tiny"
		rep, _ := run(t, setup{nodes: []config.Node{n}})
		if nr := rep.Nodes[0]; nr.Model != "tiny:latest" || nr.Tier != TierVerified {
			t.Errorf("model %q tier %s problems %+v", nr.Model, nr.Tier, nr.Problems)
		}
	})

	t.Run("-n above OLLAMA_NUM_PARALLEL", func(t *testing.T) {
		f := backendtest.NewOllama(t, backendtest.Script{})
		f.SetResponder(answers)
		n := node("gpu-1", f.URL, "ollama")
		n.Capacity = 4
		rep, out := run(t, setup{nodes: []config.Node{n}, threads: 3, env: map[string]string{"OLLAMA_NUM_PARALLEL": "2"}})
		nr := rep.Nodes[0]
		p := problem(t, nr, CodeThreadsOver)
		if p.Severity != sevWarning || !strings.HasPrefix(p.Message, "-n 3 is higher than OLLAMA_NUM_PARALLEL=2") ||
			!strings.HasPrefix(p.Fix, "run pin-clientd with -n 2") {
			t.Errorf("%+v", p)
		}
		if c := problem(t, nr, CodeCapacityOver); !strings.Contains(c.Fix, `"capacity": 2`) {
			t.Errorf("%+v", c)
		}
		if nr.Tier != TierVerified { // a warning does not fail the node
			t.Errorf("tier %s", nr.Tier)
		}
		if !strings.Contains(out, "fix: run pin-clientd with -n 2") {
			t.Errorf("output:\n%s", out)
		}
		// min(-n, capacity) = 3 streams at a time; max(3, 3) streams.
		if !strings.Contains(out, "3 streaming requests through the local gateway, 3 at a time") {
			t.Errorf("output:\n%s", out)
		}
	})

	t.Run("-n within OLLAMA_NUM_PARALLEL", func(t *testing.T) {
		f := backendtest.NewOllama(t, backendtest.Script{})
		f.SetResponder(answers)
		rep, _ := run(t, setup{nodes: []config.Node{node("gpu-1", f.URL, "ollama")}, threads: 2, env: map[string]string{"OLLAMA_NUM_PARALLEL": "2"}})
		if ps := rep.Nodes[0].Problems; len(ps) != 0 {
			t.Errorf("problems %+v", ps)
		}
	})

	t.Run("model on CPU", func(t *testing.T) {
		f := backendtest.NewOllama(nil, backendtest.Script{})
		f.SetResponder(answers)
		// Ollama's /api/ps: llama3:8b loaded, nothing in VRAM.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/ps" {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"models":[{"name":"llama3:8b","model":"llama3:8b","size":5000000000,"size_vram":0}]}`))
				return
			}
			f.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		rep, out := run(t, setup{nodes: []config.Node{node("gpu-1", srv.URL, "ollama")}, gpu: detect.Yes})
		nr := rep.Nodes[0]
		p := problem(t, nr, detect.CodeOnCPU)
		if p.Severity != sevDegraded || !strings.Contains(p.Message, "llama3:8b runs on the CPU") || !strings.Contains(p.Fix, "GPU driver") {
			t.Errorf("%+v", p)
		}
		n := 0
		for _, q := range nr.Problems {
			if q.Code == detect.CodeOnCPU {
				n++
			}
		}
		if n != 1 {
			t.Errorf("on-cpu reported %d times", n)
		}
		if !strings.Contains(out, "degraded: model llama3:8b runs on the CPU") {
			t.Errorf("output:\n%s", out)
		}
	})
}

func TestEveryNodeReportedAndJSON(t *testing.T) {
	good := backendtest.NewOllama(t, backendtest.Script{})
	good.SetResponder(answers)
	srv := httptest.NewServer(http.NotFoundHandler())
	gone := srv.URL
	srv.Close()
	rep, out := run(t, setup{nodes: []config.Node{node("down", gone, "ollama"), node("up", good.URL, "ollama")}})
	if rep.Nodes[0].Tier != TierFailed || rep.Nodes[1].Tier != TierVerified {
		t.Fatalf("tiers %s, %s", rep.Nodes[0].Tier, rep.Nodes[1].Tier)
	}
	if f := rep.Failed(); len(f) != 1 || f[0] != "down" {
		t.Errorf("Failed() = %v", f)
	}
	// One summary row per node.
	for _, row := range []string{"down  -", "up    llama3:8b"} {
		if !strings.Contains(out, row) {
			t.Errorf("summary lacks %q:\n%s", row, out)
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Nodes []struct {
			Alias    string    `json:"alias"`
			Tier     string    `json:"tier"`
			TTFTMs   []float64 `json:"ttftMs"`
			Problems []Problem `json:"problems"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Nodes) != 2 || back.Nodes[0].Problems[0].Code != detect.CodeUnreachable || len(back.Nodes[1].TTFTMs) != DefaultStreams {
		t.Errorf("json: %s", b)
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	if _, err := Run(context.Background(), Options{}); err == nil || !strings.Contains(err.Error(), "nodes") {
		t.Errorf("no config: %v", err)
	}
	cfg := &config.Config{ClientID: "op_x", Nodes: []config.Node{node("a", "http://127.0.0.1:1", "ollama")}}
	if _, err := Run(context.Background(), Options{Config: cfg, Threads: -1}); err == nil || !strings.Contains(err.Error(), "-n") {
		t.Errorf("-n -1: %v", err)
	}
}
