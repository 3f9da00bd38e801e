package pintest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pin-client/pin-client/core/protocol"
)

// BenchmarkConsumerRelay measures the local gateway's own relay path: an OpenAI
// streaming request in, INFERENCE_REQUEST out, 64 INFERENCE_CHUNKs back from a
// hand-rolled operator, OpenAI SSE out. The operator is the test client (one POST per
// chunk on SSE, no coalescing), so this bounds what the gateway adds, not the daemon.
func BenchmarkConsumerRelay(b *testing.B) {
	const tokens = 64
	for _, tr := range transports {
		b.Run(tr, func(b *testing.B) {
			gw := New(b, Options{MaxFrames: 1000})
			var c client
			if tr == TransportWS {
				c = dialWS(b, gw, DefaultClientID, DefaultSecret, time.Now())
			} else {
				c, _ = connectSSE(b, gw, DefaultClientID, DefaultSecret)
			}
			expect(b, c, protocol.TypeAuthSuccess)
			go func() {
				for {
					var e event
					select {
					case e = <-c.evs():
					case <-c.doneCh():
						return
					}
					req, ok := e.msg.(*protocol.InferenceRequest)
					if !ok {
						continue
					}
					for i := range tokens {
						_ = c.trySend(&protocol.InferenceChunk{RequestID: req.RequestID, Index: i, Delta: "tok ", Kind: KindContent})
					}
					_ = c.trySend(&protocol.InferenceResponse{RequestID: req.RequestID, Result: json.RawMessage(
						`{"choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}],"usage":null,"model":"m"}`)})
				}
			}()
			_ = c.trySend(&protocol.RegisterNode{Alias: "A", Models: []string{"m"}, Capacity: 4, Region: "global"})
			if _, err := gw.WaitNodes(b.Context(), 1); err != nil {
				b.Fatal(err)
			}
			body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				resp, err := http.Post(gw.HTTPURL()+ChatPath, "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if n := strings.Count(string(out), `"content":"tok "`); n != tokens {
					b.Fatalf("%d tokens relayed", n)
				}
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*tokens), "ns/token")
		})
	}
}
