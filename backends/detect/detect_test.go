package detect

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pin-client/pin-client/backends"
)

// modelSummary is the part of a Model the tests compare.
type modelSummary struct {
	Name      string
	Loaded    Tri
	Ctx, Max  int
	Tools     Tri
	Reasoning string
	Embedding bool
	OnCPU     bool
}

func summarize(ms []Model) []modelSummary {
	var out []modelSummary
	for _, m := range ms {
		out = append(out, modelSummary{m.Name, m.Loaded, m.ContextLength, m.MaxContextLength, m.Tools, m.Reasoning, m.Embedding, m.OnCPU})
	}
	return out
}

func TestProbeIdentifiesEachKind(t *testing.T) {
	tests := []struct {
		name     string
		routes   route
		at       string // the well-known address the fake is reached at
		kind     Kind
		mode     string
		version  string
		parallel int
		models   []modelSummary
	}{
		{
			name: "ollama", routes: ollamaRoutes(0), at: "127.0.0.1:11434",
			kind: KindOllama, mode: "ollama", version: "0.12.6", parallel: 1,
			models: []modelSummary{
				{Name: "llama3.2:3b", Loaded: Yes, Ctx: 8192, Max: 131072, Tools: Yes, Reasoning: ReasoningNone, OnCPU: true},
				{Name: "qwen3:8b", Loaded: No, Ctx: 40960, Max: 40960, Tools: Yes, Reasoning: ReasoningThinking},
				{Name: "nomic-embed-text:latest", Loaded: No, Ctx: 2048, Max: 2048, Tools: No, Reasoning: ReasoningNone, Embedding: true},
			},
		},
		{
			name: "lmstudio v0", routes: lmStudioV0Routes(), at: "127.0.0.1:1234",
			kind: KindLMStudio, mode: "openai", parallel: 1,
			models: []modelSummary{
				{Name: "qwen2-vl-7b-instruct", Loaded: No, Ctx: 32768, Max: 32768},
				{Name: "meta-llama-3.1-8b-instruct", Loaded: Yes, Ctx: 8192, Max: 131072, Tools: Yes},
				{Name: "text-embedding-nomic-embed-text-v1.5", Loaded: No, Ctx: 2048, Max: 2048, Embedding: true},
			},
		},
		{
			name: "lmstudio v1 jit", routes: lmStudioV1Routes(), at: "127.0.0.1:1234",
			kind: KindLMStudio, mode: "openai", parallel: 1,
			models: []modelSummary{
				{Name: "google/gemma-3-4b", Loaded: No, Ctx: 131072, Max: 131072, Tools: No},
				{Name: "qwen/qwen3.5-9b", Loaded: No, Ctx: 262144, Max: 262144, Tools: Yes},
			},
		},
		{
			name: "vllm", routes: vllmRoutes(), at: "127.0.0.1:8000",
			kind: KindVLLM, mode: "openai", version: "0.11.0", parallel: 1,
			models: []modelSummary{{Name: "Qwen/Qwen2.5-7B-Instruct", Loaded: Yes, Ctx: 32768, Max: 32768}},
		},
		{
			name: "llama.cpp", routes: llamaCppRoutes(), at: "127.0.0.1:8080",
			kind: KindLlamaCpp, mode: "openai", version: "b6500-1a2b3c4", parallel: 4,
			models: []modelSummary{{Name: "Qwen3-8B-Q4_K_M.gguf", Loaded: Yes, Ctx: 16384, Max: 40960, Tools: Yes, Reasoning: ReasoningContent}},
		},
		{
			name: "tgi", routes: tgiRoutes(), at: "127.0.0.1:3000",
			kind: KindTGI, mode: "openai", version: "3.3.6", parallel: 1,
			models: []modelSummary{{Name: "HuggingFaceH4/zephyr-7b-beta", Loaded: Yes, Ctx: 4096, Max: 4096}},
		},
		{
			name: "localai", routes: localAIRoutes(), at: "127.0.0.1:8080",
			kind: KindLocalAI, mode: "openai", version: "v2.28.0", parallel: 1,
			models: []modelSummary{{Name: "qwen3-4b", Loaded: Yes}, {Name: "whisper-1", Loaded: No}},
		},
		{
			name: "koboldcpp", routes: koboldRoutes(), at: "127.0.0.1:5001",
			kind: KindKoboldCpp, mode: "openai", version: "1.117.1", parallel: 1,
			models: []modelSummary{{Name: "koboldcpp/gemma-3-12b-it-q4_0", Loaded: Yes, Ctx: 20480, Max: 20480}},
		},
		{
			name: "jan", routes: janRoutes(), at: "127.0.0.1:1337",
			kind: KindJan, mode: "openai", parallel: 1,
			models: []modelSummary{{Name: "jan-v3-4b-base-instruct"}},
		},
		{
			name: "openai-compatible", routes: genericOpenAIRoutes(), at: "127.0.0.1:5000",
			kind: KindOpenAI, mode: "openai", parallel: 1,
			models: []modelSummary{{Name: "mistral-7b-instruct"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeServer(t, tt.routes, "")
			opts, rec := testOptions(t, dialMap{tt.at: hostOf(srv)})
			s, err := Probe(context.Background(), "http://"+tt.at+"/", opts)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if s.URL != "http://"+tt.at {
				t.Errorf("URL = %q, want %q (no trailing slash)", s.URL, "http://"+tt.at)
			}
			if s.Kind != tt.kind || s.APIMode != tt.mode || s.Version != tt.version || s.Parallel != tt.parallel {
				t.Errorf("got kind %q mode %q version %q parallel %d, want %q %q %q %d",
					s.Kind, s.APIMode, s.Version, s.Parallel, tt.kind, tt.mode, tt.version, tt.parallel)
			}
			got, want := summarize(s.Models), tt.models
			if len(got) != len(want) {
				t.Fatalf("models:\n got %+v\nwant %+v", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("model %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
			if rec.missing != 0 {
				t.Errorf("%d requests had no context deadline", rec.missing)
			}
		})
	}
}

func TestOllamaParallelFromEnvOnlyWhenLocal(t *testing.T) {
	srv := fakeServer(t, ollamaRoutes(3000000000), "")
	for _, tt := range []struct {
		at   string
		want int
	}{
		{"127.0.0.1:11434", 3},
		{"gpu-box.lan:11434", 1}, // our environment says nothing about a remote Ollama
	} {
		opts, _ := testOptions(t, dialMap{tt.at: hostOf(srv)})
		opts.Getenv = func(k string) string {
			if k == "OLLAMA_NUM_PARALLEL" {
				return "3"
			}
			return ""
		}
		s, err := Probe(context.Background(), "http://"+tt.at, opts)
		if err != nil {
			t.Fatal(err)
		}
		if s.Parallel != tt.want {
			t.Errorf("%s: Parallel = %d, want %d", tt.at, s.Parallel, tt.want)
		}
	}
}

func TestAPITokenIsSentAndNeverPrinted(t *testing.T) {
	const token = "lmstudio-secret-token-123"
	for _, tt := range []struct {
		name   string
		routes route
		at     string
		kind   Kind
	}{
		{"lmstudio", lmStudioV0Routes(), "127.0.0.1:1234", KindLMStudio},
		{"jan", janRoutes(), "127.0.0.1:1337", KindJan},
		{"unknown port", genericOpenAIRoutes(), "127.0.0.1:9999", KindUnknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeServer(t, tt.routes, token)
			opts, rec := testOptions(t, dialMap{tt.at: hostOf(srv)})

			s, err := Probe(context.Background(), "http://"+tt.at, opts)
			if !errors.Is(err, ErrAuthRequired) {
				t.Fatalf("without token: err = %v, want ErrAuthRequired", err)
			}
			if s.Kind != tt.kind {
				t.Errorf("without token: kind = %q, want %q (guessed from the port)", s.Kind, tt.kind)
			}

			opts.APIKey = token
			s, err = Probe(context.Background(), "http://"+tt.at, opts)
			if err != nil {
				t.Fatalf("with token: %v", err)
			}
			if len(s.Models) == 0 {
				t.Error("with token: no models listed")
			}
			sawToken := false
			for _, a := range rec.auth {
				sawToken = sawToken || a == "Bearer "+token
			}
			if !sawToken {
				t.Error("the token was never sent as a bearer token")
			}

			// A failing probe with the token set must not print it.
			opts.APIKey = token + "-wrong"
			s, err = Probe(context.Background(), "http://"+tt.at, opts)
			b, _ := json.Marshal(s)
			if strings.Contains(err.Error(), token) || strings.Contains(string(b), token) {
				t.Errorf("token leaked: %v / %s", err, b)
			}
		})
	}
}

func TestVLLMWithAPIKeyIsStillIdentified(t *testing.T) {
	// vLLM's --api-key guards /v1 only; /version stays open.
	open := fakeServer(t, route{
		"/version":   vllmRoutes()["/version"],
		"/v1/models": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) },
	}, "")
	opts, _ := testOptions(t, dialMap{"127.0.0.1:8000": hostOf(open)})
	s, err := Probe(context.Background(), "http://127.0.0.1:8000", opts)
	if s.Kind != KindVLLM || s.Version != "0.11.0" || !errors.Is(err, ErrAuthRequired) {
		t.Fatalf("got kind %q version %q err %v; want vllm 0.11.0 ErrAuthRequired", s.Kind, s.Version, err)
	}
}

func TestProbeErrors(t *testing.T) {
	notLLM := fakeServer(t, route{"/": jsonRoute(`<html>hello</html>`)}, "")
	hung := hungListener(t)
	closed := closedPort(t)
	tests := []struct {
		name  string
		url   string
		to    string
		want  error
		alsoJ error
	}{
		{"bad url", "localhost:11434", "", ErrBadURL, nil},
		{"ftp", "ftp://127.0.0.1:21", "", ErrBadURL, nil},
		{"closed port", "http://127.0.0.1:11434", closed, backends.ErrUnreachable, nil},
		{"not an llm server", "http://127.0.0.1:3000", hostOf(notLLM), ErrNotLLMServer, backends.ErrBadResponse},
		{"hung listener", "http://127.0.0.1:8000", hung, ErrNoAnswer, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := dialMap{}
			if u, err := url.Parse(tt.url); err == nil && tt.to != "" {
				m[u.Host] = tt.to
			}
			opts, _ := testOptions(t, m)
			opts.Timeout = 300 * time.Millisecond
			s, err := Probe(context.Background(), tt.url, opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.alsoJ != nil && !errors.Is(err, tt.alsoJ) {
				t.Errorf("err = %v, want it to wrap %v too", err, tt.alsoJ)
			}
			if s.Err != err {
				t.Errorf("Server.Err = %v, want the returned error", s.Err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestScanTargets(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "OLLAMA_HOST" {
				return v
			}
			return ""
		}
	}
	hostsOf := func(us []*url.URL) []string {
		var s []string
		for _, u := range us {
			s = append(s, u.Host)
		}
		return s
	}
	tests := []struct {
		name string
		opts Options
		env  string
		want []string
	}{
		{"defaults", Options{}, "", nil},
		{"extra port, one host", Options{Hosts: []string{"gpu-box"}, Ports: []int{9000, 0, 70000}, NoDefaultPorts: true}, "",
			[]string{"gpu-box:9000"}},
		{"OLLAMA_HOST port on loopback", Options{Hosts: []string{"127.0.0.1"}, NoDefaultPorts: true}, "0.0.0.0:11500",
			[]string{"127.0.0.1:11500"}},
		{"OLLAMA_HOST remote host", Options{NoDefaultPorts: true}, "http://gpu-box:11434",
			[]string{"gpu-box:11434"}},
		{"OLLAMA_HOST without port", Options{Hosts: []string{"::1"}, NoDefaultPorts: true}, "127.0.0.1",
			[]string{"[::1]:11434"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hostsOf(scanTargets(tt.opts, env(tt.env)))
			if tt.want == nil { // defaults: every default port on both loopback addresses
				if len(got) != 2*len(DefaultPorts) || got[0] != "127.0.0.1:11434" || got[len(DefaultPorts)] != "[::1]:11434" {
					t.Fatalf("got %v", got)
				}
				return
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestServerJSON(t *testing.T) {
	s := Server{URL: "http://127.0.0.1:1234", Kind: KindLMStudio, APIMode: "openai", Parallel: 1,
		Err: errors.New("boom")}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"url":"http://127.0.0.1:1234","kind":"lmstudio","apiMode":"openai","parallel":1,"models":[],"error":"boom"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	m, _ := json.Marshal(Model{Name: "a", Loaded: No, Tools: Yes})
	if string(m) != `{"name":"a","loaded":false,"tools":true}` {
		t.Errorf("model JSON %s", m)
	}
	var back Model
	if err := json.Unmarshal(m, &back); err != nil || back.Loaded != No || back.Tools != Yes || back.Reasoning != "" {
		t.Errorf("round trip: %+v %v", back, err)
	}
}

func TestLocalGPU(t *testing.T) {
	has := func(paths ...string) func(string) bool {
		return func(p string) bool {
			for _, q := range paths {
				if strings.HasSuffix(strings.ReplaceAll(p, `\`, "/"), q) {
					return true
				}
			}
			return false
		}
	}
	env := func(string) string { return "" }
	tests := []struct {
		goos, goarch string
		exists       func(string) bool
		want         Tri
	}{
		{"linux", "amd64", has("/proc/driver/nvidia/version"), Yes},
		{"linux", "amd64", has("/dev/kfd"), Yes},
		{"linux", "amd64", has(), Unknown},
		{"darwin", "arm64", has(), Yes},
		{"darwin", "amd64", has(), Unknown},
		{"windows", "amd64", has("System32/nvcuda.dll"), Yes},
		{"windows", "amd64", has(), Unknown},
	}
	for _, tt := range tests {
		if got := localGPU(tt.goos, tt.goarch, tt.exists, env); got != tt.want {
			t.Errorf("%s/%s: got %v, want %v", tt.goos, tt.goarch, got, tt.want)
		}
	}
}

func TestProbeDefaultPorts(t *testing.T) {
	srv := fakeServer(t, genericOpenAIRoutes(), "")
	for _, u := range []string{"http://llm.lan", "https://llm.lan"} {
		want := "llm.lan:80"
		if strings.HasPrefix(u, "https") {
			want = "llm.lan:443"
		}
		opts, _ := testOptions(t, dialMap{want: hostOf(srv)})
		_, err := Probe(context.Background(), u, opts)
		// https to a plain-HTTP fake fails the probes, but the dial check must have used
		// the scheme's default port (else: ErrUnreachable).
		if errors.Is(err, backends.ErrUnreachable) {
			t.Errorf("%s: dialled the wrong port: %v", u, err)
		}
	}
}
