package core

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/backends/ollama"
	"github.com/pin-client/pin-client/backends/openai"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
)

// TestInterviewTTFTExact runs an interview through the real adapters against backend
// fakes on the fake clock: the TTFT reported must match the fake's configured
// first-token delay (the original daemon reported total/2, G10), and total_ms is the
// whole call.
func TestInterviewTTFTExact(t *testing.T) {
	for _, mode := range []string{"ollama", "openai"} {
		t.Run(mode, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := backendtest.Answer("4", "!", "!")
				s.TTFT, s.TokenDelay = 137*time.Millisecond, 2*time.Millisecond
				var fake *backendtest.Fake
				var be backends.Backend
				if mode == "ollama" {
					fake = backendtest.NewOllama(nil, s)
					be = ollama.New("http://ollama.invalid", ollama.Options{HTTPClient: fake.Client()})
				} else {
					fake = backendtest.NewOpenAI(nil, backendtest.VLLM, s)
					be = openai.New("http://openai.invalid", openai.Options{HTTPClient: fake.Client()})
				}
				n := testNode("n")
				n.APIMode = mode
				d := newDialer().ok()
				r := startRig(t, d, func(o *Options) {
					o.NewBackend = func(config.Node) backends.Backend { return be }
				}, n)
				c := r.conn()
				c.in <- &protocol.InterviewRequest{InterviewID: "iv", Model: "m", Prompts: []protocol.Prompt{{ID: "p", Prompt: "2+2?"}}}
				time.Sleep(time.Second) // fake clock: lets the backend's timers fire
				synctest.Wait()
				sent, _, _, _ := c.snapshot()
				var res *protocol.InterviewResult
				for _, m := range sent {
					if m, ok := m.(*protocol.InterviewResult); ok {
						res = m
					}
				}
				if res == nil {
					t.Fatal("no INTERVIEW_RESULT")
				}
				p := res.Results[0]
				// within 5 ms of the configured delay (an OpenAI stream's role-only first
				// frame puts one token gap before the first content)
				if p.TTFTMs < 137 || p.TTFTMs > 142 || p.TotalMs < p.TTFTMs+4 || p.Response != "4!!" || p.Error != "" {
					t.Fatalf("result %+v, want ttft 137..142 ms and total after the last token", p)
				}
			})
		})
	}
}
