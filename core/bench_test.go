package core

import (
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/core/transport"
	"github.com/pin-client/pin-client/internal/config"
)

// instantBackend streams n one-word deltas as fast as the relay takes them.
type instantBackend struct{ n int }

func (b instantBackend) Models(context.Context) ([]string, error) { return []string{"m"}, nil }

func (b instantBackend) Chat(ctx context.Context, r *backends.ChatRequest) (*backends.ChatResult, error) {
	return b.ChatStream(ctx, r, func(backends.Delta) error { return nil })
}

func (b instantBackend) ChatStream(_ context.Context, _ *backends.ChatRequest, on func(backends.Delta) error) (*backends.ChatResult, error) {
	for i := 0; i < b.n; i++ {
		if err := on(backends.Delta{Kind: backends.KindContent, Text: " tok"}); err != nil {
			return nil, err
		}
	}
	return &backends.ChatResult{Choices: []backends.Choice{{Message: backends.Message{Role: "assistant", Content: strings.Repeat(" tok", b.n)}, FinishReason: "stop"}},
		Usage: &backends.Usage{PromptTokens: 1, CompletionTokens: b.n, TotalTokens: b.n + 1}, Model: "m"}, nil
}

// BenchmarkRelayToken relays one long streamed answer per iteration from an instant
// backend through the engine and a real transport to the pintest gateway, and reports
// the cost per relayed token. The numbers include the gateway's receiving side, which
// runs in the same process.
func BenchmarkRelayToken(b *testing.B) {
	const tokens = 2000
	for _, tr := range []string{"sse", "ws"} {
		b.Run(tr, func(b *testing.B) {
			gw := pintest.New(b, pintest.Options{})
			cfg := &config.Config{ClientID: pintest.DefaultClientID, ServerURL: gw.URL(), Transport: tr,
				Nodes: []config.Node{{Alias: "n", InferenceURI: "http://127.0.0.1:1", APIMode: "ollama", Region: "global", Capacity: 1}}}
			if err := cfg.Validate(); err != nil {
				b.Fatal(err)
			}
			e, err := New(Options{Config: cfg, Secret: protocol.NewSecret(pintest.DefaultSecret),
				NewBackend: func(config.Node) backends.Backend { return instantBackend{tokens} }})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- e.Run(ctx) }()
			defer func() { cancel(); <-done }()
			wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
			defer wcancel()
			if _, err := gw.WaitNodes(wctx, 1); err != nil {
				b.Fatal(err)
			}
			msgs := json.RawMessage(`[{"role":"user","content":"go"}]`)
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				job, err := gw.Infer(wctx, protocol.InferencePayload{Model: "m", Messages: msgs, Stream: true})
				if err != nil {
					b.Fatal(err)
				}
				res, err := job.Wait(wctx)
				if err != nil || !res.OK() {
					b.Fatalf("%v %+v", err, res)
				}
				if got := len(job.Text(pintest.KindContent)); got != 4*tokens {
					b.Fatalf("relayed %d bytes, want %d", got, 4*tokens)
				}
			}
			el := time.Since(start)
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			n := float64(b.N * tokens)
			b.ReportMetric(float64(el.Nanoseconds())/n, "ns/token")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/token")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// discardConn is a transport.Conn that accepts everything and sends nothing: the
// engine's own per-token cost, without any transport.
type discardConn struct{ fakeConn }

func (c *discardConn) Send(protocol.Message) error { return nil }

// BenchmarkEngineToken is the engine's share alone: job dispatch, admission, chunk
// building and accounting, with a transport that discards.
func BenchmarkEngineToken(b *testing.B) {
	const tokens = 2000
	c := &discardConn{*newFakeConn("ws")}
	cfg := &config.Config{ClientID: "op", ServerURL: "ws://127.0.0.1:1/ws", Nodes: []config.Node{{Alias: "n", InferenceURI: "http://127.0.0.1:1", APIMode: "ollama", Region: "global", Capacity: 1}}}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	e, _ := New(Options{Config: cfg, NewBackend: func(config.Node) backends.Backend { return instantBackend{tokens} },
		Dial: func(context.Context, string, transportOptions) (transportConn, error) { return c, nil }})
	s := &session{e: e, conn: c, log: e.log, linkCtx: context.Background(), jobsCtx: context.Background(), cancels: map[string]context.CancelFunc{}, serverIDs: map[string]int{}, warned: map[string]bool{}}
	payload, _ := json.Marshal(protocol.InferencePayload{Model: "m", Messages: json.RawMessage(`[]`), Stream: true})
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		s.startInference(&protocol.InferenceRequest{RequestID: "r", Payload: payload})
		s.jobs.Wait()
	}
	el := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	n := float64(b.N * tokens)
	b.ReportMetric(float64(el.Nanoseconds())/n, "ns/token")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/token")
	b.ReportMetric(0, "ns/op")
}

type (
	transportOptions = transport.Options
	transportConn    = transport.Conn
)
