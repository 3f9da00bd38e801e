package detect

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Fakes of each server kind. Answer shapes follow each product's public API
// documentation (Ollama API reference, LM Studio REST API v0/v1, vLLM OpenAI server,
// llama.cpp server README, TGI OpenAPI, LocalAI discovery docs, KoboldCpp API, Jan
// local API server). Paths a product does not serve answer 404, as the real ones do.

type route map[string]func(w http.ResponseWriter, r *http.Request)

func jsonRoute(body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

// fakeServer serves routes; token, when set, is required as a bearer token on every
// route (as LM Studio with "Require Authentication" or Jan do).
func fakeServer(t *testing.T, routes route, token string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid or missing api key"}`)
			return
		}
		h, ok := routes[r.Method+" "+r.URL.Path]
		if !ok {
			h, ok = routes[r.URL.Path]
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func ollamaShow(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model string `json:"model"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	w.Header().Set("Content-Type", "application/json")
	switch req.Model {
	case "llama3.2:3b":
		io.WriteString(w, `{"modelfile":"FROM x","parameters":"","template":"{{ .Prompt }}",
		 "details":{"format":"gguf","family":"llama","parameter_size":"3.2B","quantization_level":"Q4_K_M"},
		 "model_info":{"general.architecture":"llama","llama.context_length":131072,"llama.embedding_length":3072},
		 "capabilities":["completion","tools"]}`)
	case "qwen3:8b":
		io.WriteString(w, `{"details":{"family":"qwen3"},
		 "model_info":{"general.architecture":"qwen3","qwen3.context_length":40960},
		 "capabilities":["completion","tools","thinking"]}`)
	case "nomic-embed-text:latest":
		io.WriteString(w, `{"details":{"family":"nomic-bert"},
		 "model_info":{"general.architecture":"nomic-bert","nomic-bert.context_length":2048},
		 "capabilities":["embedding"]}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":"model not found"}`)
	}
}

const ollamaTagsBody = `{"models":[
 {"name":"llama3.2:3b","model":"llama3.2:3b","modified_at":"2025-05-01T10:00:00Z","size":2019393189,"digest":"a80c4f17acd5","details":{"format":"gguf","family":"llama","parameter_size":"3.2B","quantization_level":"Q4_K_M"}},
 {"name":"qwen3:8b","model":"qwen3:8b","modified_at":"2025-05-01T10:00:00Z","size":5225388164,"digest":"500a1f067a9f","details":{"format":"gguf","family":"qwen3","parameter_size":"8.2B","quantization_level":"Q4_K_M"}},
 {"name":"nomic-embed-text:latest","model":"nomic-embed-text:latest","size":274302450,"digest":"0a109f422b47","details":{"format":"gguf","family":"nomic-bert"}}]}`

// ollamaRoutes: llama3.2:3b loaded with psVRAM bytes of 3 GB in GPU memory.
func ollamaRoutes(psVRAM int64) route {
	ps, _ := json.Marshal(map[string]any{"models": []map[string]any{{
		"name": "llama3.2:3b", "model": "llama3.2:3b", "size": 3000000000, "digest": "a80c4f17acd5",
		"details":    map[string]any{"format": "gguf", "family": "llama"},
		"expires_at": "2025-05-01T10:05:00Z", "size_vram": psVRAM, "context_length": 8192,
	}}})
	return route{
		"/api/version":    jsonRoute(`{"version":"0.12.6"}`),
		"/api/tags":       jsonRoute(ollamaTagsBody),
		"/api/ps":         jsonRoute(string(ps)),
		"POST /api/show":  ollamaShow,
		"/v1/models":      jsonRoute(`{"object":"list","data":[{"id":"llama3.2:3b","object":"model","created":1746093600,"owned_by":"library"}]}`),
		"GET /api/health": jsonRoute(`{}`),
	}
}

// LM Studio 0.3.x: REST API v0 only.
func lmStudioV0Routes() route {
	return route{
		"/api/v0/models": jsonRoute(`{"object":"list","data":[
		 {"id":"qwen2-vl-7b-instruct","object":"model","type":"vlm","publisher":"mlx-community","arch":"qwen2_vl","compatibility_type":"mlx","quantization":"4bit","state":"not-loaded","max_context_length":32768},
		 {"id":"meta-llama-3.1-8b-instruct","object":"model","type":"llm","publisher":"lmstudio-community","arch":"llama","compatibility_type":"gguf","quantization":"Q4_K_M","state":"loaded","max_context_length":131072,"loaded_context_length":8192,"capabilities":["tool_use"]},
		 {"id":"text-embedding-nomic-embed-text-v1.5","object":"model","type":"embeddings","publisher":"nomic-ai","arch":"nomic-bert","compatibility_type":"gguf","quantization":"Q4_0","state":"not-loaded","max_context_length":2048}]}`),
		"/v1/models": jsonRoute(`{"object":"list","data":[{"id":"qwen2-vl-7b-instruct","object":"model","owned_by":"organization_owner"},{"id":"meta-llama-3.1-8b-instruct","object":"model","owned_by":"organization_owner"}]}`),
	}
}

// LM Studio 0.4: REST API v1 beside v0, nothing loaded (JIT loading).
func lmStudioV1Routes() route {
	return route{
		"/api/v1/models": jsonRoute(`{"models":[
		 {"type":"llm","publisher":"google","key":"google/gemma-3-4b","display_name":"Gemma 3 4B","architecture":"gemma3","quantization":{"name":"4bit","bits_per_weight":4},"size_bytes":3034755901,"params_string":"4B","loaded_instances":[],"max_context_length":131072,"format":"mlx","capabilities":{"vision":true,"trained_for_tool_use":false}},
		 {"type":"llm","publisher":"qwen","key":"qwen/qwen3.5-9b","display_name":"Qwen3.5 9B","architecture":"qwen35","size_bytes":6548927017,"loaded_instances":[],"max_context_length":262144,"format":"gguf","capabilities":{"vision":false,"trained_for_tool_use":true}}]}`),
		"/api/v0/models": jsonRoute(`{"object":"list","data":[
		 {"id":"google/gemma-3-4b","object":"model","type":"vlm","state":"not-loaded","max_context_length":131072},
		 {"id":"qwen/qwen3.5-9b","object":"model","type":"llm","state":"not-loaded","max_context_length":262144}]}`),
		"/v1/models": jsonRoute(`{"object":"list","data":[{"id":"google/gemma-3-4b","object":"model","owned_by":"organization_owner"}]}`),
	}
}

func vllmRoutes() route {
	return route{
		"/version": jsonRoute(`{"version":"0.11.0"}`),
		"/health":  func(w http.ResponseWriter, r *http.Request) {},
		"/v1/models": jsonRoute(`{"object":"list","data":[{"id":"Qwen/Qwen2.5-7B-Instruct","object":"model","created":1746093600,
		 "owned_by":"vllm","root":"Qwen/Qwen2.5-7B-Instruct","parent":null,"max_model_len":32768,"permission":[{"id":"modelperm-1","object":"model_permission","allow_sampling":true}]}]}`),
	}
}

func llamaCppRoutes() route {
	return route{
		"/health": jsonRoute(`{"status":"ok"}`),
		"/props": jsonRoute(`{"default_generation_settings":{"n_ctx":16384,"params":{"temperature":0.8,"top_k":40}},
		 "total_slots":4,"model_path":"/models/Qwen3-8B-Q4_K_M.gguf","model_alias":"","build_info":"b6500-1a2b3c4",
		 "chat_template":"{%- if tools %}...{%- endif %}<|im_start|>assistant\n<think>\n",
		 "chat_template_caps":{"supports_tools":true,"supports_tool_calls":true,"supports_system_role":true},
		 "modalities":{"vision":false,"audio":false},"is_sleeping":false}`),
		"/v1/models": jsonRoute(`{"object":"list","data":[{"id":"Qwen3-8B-Q4_K_M.gguf","object":"model","created":1746093600,"owned_by":"llamacpp",
		 "meta":{"vocab_type":2,"n_vocab":151936,"n_ctx_train":40960,"n_ctx":16384,"n_embd":4096,"n_params":8190735360,"size":5027783488}}],
		 "models":[{"name":"Qwen3-8B-Q4_K_M.gguf","model":"Qwen3-8B-Q4_K_M.gguf","capabilities":["completion"]}]}`),
		// llama-server's Ollama-compatible shim: must not make it look like Ollama.
		"/api/tags": jsonRoute(`{"models":[{"name":"Qwen3-8B-Q4_K_M.gguf","model":"Qwen3-8B-Q4_K_M.gguf"}]}`),
	}
}

func tgiRoutes() route {
	return route{
		"/info": jsonRoute(`{"model_id":"HuggingFaceH4/zephyr-7b-beta","model_sha":"b70e0c9a","model_dtype":"torch.float16","model_device_type":"cuda",
		 "model_pipeline_tag":"text-generation","max_concurrent_requests":128,"max_best_of":2,"max_stop_sequences":4,
		 "max_input_tokens":4095,"max_total_tokens":4096,"validation_workers":2,"max_client_batch_size":4,"version":"3.3.6","sha":"7dbaef3f","docker_label":"sha-7dbaef3"}`),
		"/health":    func(w http.ResponseWriter, r *http.Request) {},
		"/v1/models": jsonRoute(`{"object":"list","data":[{"id":"HuggingFaceH4/zephyr-7b-beta","object":"model","created":0,"owned_by":"HuggingFaceH4/zephyr-7b-beta"}]}`),
	}
}

func localAIRoutes() route {
	return route{
		"/.well-known/localai.json": jsonRoute(`{"version":"v2.28.0","endpoints":{"chat_completions":"/v1/chat/completions","models":"/v1/models"},"capabilities":{"mcp":true}}`),
		"/version":                  jsonRoute(`{"version":"v2.28.0"}`),
		"/system":                   jsonRoute(`{"backends":["llama-cpp","whisper"],"loaded_models":[{"id":"qwen3-4b","backend":"llama-cpp"}]}`),
		"/v1/models":                jsonRoute(`{"object":"list","data":[{"id":"qwen3-4b","object":"model"},{"id":"whisper-1","object":"model"}]}`),
		"/readyz":                   func(w http.ResponseWriter, r *http.Request) {},
	}
}

func koboldRoutes() route {
	return route{
		"/api/extra/version":                 jsonRoute(`{"result":"KoboldCpp","version":"1.117.1","protected":false,"txt2img":false}`),
		"/api/v1/model":                      jsonRoute(`{"result":"koboldcpp/gemma-3-12b-it-q4_0"}`),
		"/api/extra/true_max_context_length": jsonRoute(`{"value":20480}`),
		"/v1/models":                         jsonRoute(`{"object":"list","data":[{"id":"koboldcpp/gemma-3-12b-it-q4_0","object":"model","created":1,"owned_by":"koboldcpp","permission":[],"root":"koboldcpp"}]}`),
		"/api/tags":                          jsonRoute(`{"models":[{"name":"koboldcpp/gemma-3-12b-it-q4_0","model":"koboldcpp/gemma-3-12b-it-q4_0"}]}`),
		"/api/version":                       jsonRoute(`{"version":"0.6.4"}`), // Ollama emulation
	}
}

// Jan: OpenAI-compatible, API key required.
func janRoutes() route {
	return route{
		"/v1/models": jsonRoute(`{"object":"list","data":[{"id":"jan-v3-4b-base-instruct","object":"model"}]}`),
	}
}

func genericOpenAIRoutes() route {
	return route{
		"/v1/models": jsonRoute(`{"object":"list","data":[{"id":"mistral-7b-instruct","object":"model","owned_by":"me"}]}`),
	}
}

// dialMap sends dials for well-known addresses ("127.0.0.1:11434") to fakes' real
// addresses; any other address is refused like a closed port. It lets tests put fakes
// at the default ports without binding them.
type dialMap map[string]string

func (m dialMap) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	real, ok := m[addr]
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, real)
}

// recorder is an http.RoundTripper that records every request's context deadline.
type recorder struct {
	next http.RoundTripper

	mu        sync.Mutex
	deadlines []time.Time
	missing   int // requests without a deadline
	auth      []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	if dl, ok := req.Context().Deadline(); ok {
		r.deadlines = append(r.deadlines, dl)
	} else {
		r.missing++
	}
	r.auth = append(r.auth, req.Header.Get("Authorization"))
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

// testOptions returns options whose dials go through m and whose requests are recorded.
func testOptions(t *testing.T, m dialMap) (Options, *recorder) {
	t.Helper()
	tr := &http.Transport{DialContext: m.dial}
	t.Cleanup(tr.CloseIdleConnections)
	rec := &recorder{next: tr}
	return Options{
		DialContext:    m.dial,
		HTTPClient:     &http.Client{Transport: rec},
		NoDefaultPorts: false,
		Getenv:         func(string) string { return "" },
		GPU:            func() Tri { return Unknown },
	}, rec
}

// hungListener accepts connections and never answers; it returns its address.
func hungListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// closedPort returns an address where nothing listens (a port just released).
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func hostOf(srv *httptest.Server) string { return srv.Listener.Addr().String() }
