package detect

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	ollamaCPU := fakeServer(t, ollamaRoutes(0), "")            // llama3.2:3b loaded, size_vram 0
	ollamaSplit := fakeServer(t, ollamaRoutes(1500000000), "") // half in VRAM
	ollamaGPU := fakeServer(t, ollamaRoutes(3000000000), "")   // all in VRAM
	ollamaEmpty := fakeServer(t, route{"/api/version": jsonRoute(`{"version":"0.12.6"}`), "/api/tags": jsonRoute(`{"models":[]}`)}, "")
	lmsJIT := fakeServer(t, lmStudioV1Routes(), "")
	lmsLoaded := fakeServer(t, lmStudioV0Routes(), "")
	lmsToken := fakeServer(t, lmStudioV0Routes(), "tok")
	web := fakeServer(t, route{"/": jsonRoute("<html></html>")}, "")

	type want struct {
		code string
		sev  Severity
		fix  string // a substring the fix must contain
	}
	tests := []struct {
		name string
		uri  string
		to   string
		mode string
		gpu  Tri
		want []want
	}{
		{"ollama fine", "http://127.0.0.1:11434", hostOf(ollamaGPU), "ollama", Unknown, nil},
		{"cpu model, no gpu known", "http://127.0.0.1:11434", hostOf(ollamaCPU), "ollama", Unknown, nil},
		{"cpu model while a gpu exists", "http://127.0.0.1:11434", hostOf(ollamaCPU), "ollama", Yes,
			[]want{{CodeOnCPU, SevDegraded, "GPU driver"}}},
		{"split between gpu and cpu", "http://127.0.0.1:11434", hostOf(ollamaSplit), "ollama", Unknown,
			[]want{{CodePartialGPU, SevWarning, "smaller model"}}},
		{"ollama mode at LM Studio", "http://127.0.0.1:1234", hostOf(lmsLoaded), "ollama", Unknown,
			[]want{{CodeModeMismatch, SevError, `"apiMode": "openai"`}}},
		{"typo mode counts as ollama", "http://127.0.0.1:1234", hostOf(lmsLoaded), "olama", Unknown,
			[]want{{CodeModeMismatch, SevError, `"apiMode": "openai"`}}},
		{"openai mode at Ollama works", "http://127.0.0.1:11434", hostOf(ollamaGPU), "openai", Unknown,
			[]want{{CodeModeMismatch, SevWarning, `"apiMode": "ollama"`}}},
		{"LM Studio nothing loaded", "http://127.0.0.1:1234", hostOf(lmsJIT), "openai", Unknown,
			[]want{{CodeNotLoaded, SevWarning, "lms load"}}},
		{"no models", "http://127.0.0.1:11434", hostOf(ollamaEmpty), "ollama", Unknown,
			[]want{{CodeNoModels, SevError, "ollama pull"}}},
		{"unreachable", "http://127.0.0.1:11434", closedPort(t), "ollama", Unknown,
			[]want{{CodeUnreachable, SevError, "ollama serve"}}},
		{"hung", "http://127.0.0.1:11434", hungListener(t), "ollama", Unknown,
			[]want{{CodeNoAnswer, SevError, "restart"}}},
		{"token needed", "http://127.0.0.1:1234", hostOf(lmsToken), "openai", Unknown,
			[]want{{CodeAuth, SevError, "LM Studio API token"}}},
		{"not an llm server", "http://127.0.0.1:3000", hostOf(web), "openai", Unknown,
			[]want{{CodeNotLLM, SevError, "11434"}}},
		{"base ends in /v1", "http://127.0.0.1:1234/v1/", hostOf(lmsLoaded), "openai", Unknown,
			[]want{{CodeURLPath, SevError, `"http://127.0.0.1:1234"`}}},
		{"bad url", "127.0.0.1:11434", "", "ollama", Unknown,
			[]want{{CodeBadURL, SevError, "http://127.0.0.1:11434"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := dialMap{}
			if tt.to != "" {
				host := strings.TrimPrefix(tt.uri, "http://")
				host, _, _ = strings.Cut(host, "/")
				m[host] = tt.to
			}
			opts, _ := testOptions(t, m)
			opts.Timeout = 300 * time.Millisecond
			opts.GPU = func() Tri { return tt.gpu }
			got := Check(context.Background(), tt.uri, tt.mode, opts).Problems
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems %v, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				p := got[i]
				if p.Code != w.code || p.Severity != w.sev || !strings.Contains(p.Fix, w.fix) {
					t.Errorf("problem %d: got %+v, want code %s severity %s fix containing %q", i, p, w.code, w.sev, w.fix)
				}
				if p.Message == "" || strings.Contains(p.String(), "\n") {
					t.Errorf("problem %d is not one plain line: %q", i, p.String())
				}
			}
		})
	}
}

func TestCheckModelOnCPUNamesTheModel(t *testing.T) {
	srv := fakeServer(t, ollamaRoutes(0), "")
	opts, _ := testOptions(t, dialMap{"127.0.0.1:11434": hostOf(srv)})
	opts.GPU = func() Tri { return Yes }
	got := Check(context.Background(), "http://127.0.0.1:11434", "ollama", opts).Problems
	if len(got) != 1 || got[0].Model != "llama3.2:3b" || !strings.Contains(got[0].Message, "llama3.2:3b runs on the CPU") {
		t.Fatalf("got %+v", got)
	}
}

// TestCheckReport: one probe gives the models (all for registration, chat ones for
// people), OK and the one-line error with its fix.
func TestCheckReport(t *testing.T) {
	srv := fakeServer(t, ollamaRoutes(3000000000), "")
	opts, _ := testOptions(t, dialMap{"127.0.0.1:11434": hostOf(srv)})
	opts.Timeout = 300 * time.Millisecond
	r := Check(context.Background(), "http://127.0.0.1:11434", "ollama", opts)
	if !r.OK() || r.Err() != "" || r.Server.Kind != KindOllama {
		t.Errorf("ready server: ok %v err %q kind %s", r.OK(), r.Err(), r.Server.Kind)
	}
	if got := strings.Join(r.Models, ","); got != "llama3.2:3b,nomic-embed-text:latest,qwen3:8b" {
		t.Errorf("models %s", got)
	}
	if got := strings.Join(r.ChatModels(), ","); got != "llama3.2:3b,qwen3:8b" {
		t.Errorf("chat models %s", got)
	}

	// Nothing listens: not OK, no models, one line naming the fix.
	r = Check(context.Background(), "http://127.0.0.1:9", "ollama", opts)
	if r.OK() || r.Models != nil || r.ChatModels() != nil {
		t.Errorf("unreachable: ok %v models %v", r.OK(), r.Models)
	}
	if e := r.Err(); !strings.Contains(e, "nothing listens at http://127.0.0.1:9; fix: start the LLM server") || strings.Contains(e, "\n") {
		t.Errorf("unreachable: %q", e)
	}
	// A warning alone keeps the node OK.
	r = Report{Problems: []Problem{{Severity: SevWarning, Message: "m", Fix: "f"}}}
	if !r.OK() || r.Err() != "" {
		t.Errorf("warning only: ok %v err %q", r.OK(), r.Err())
	}
}
