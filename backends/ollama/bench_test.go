package ollama

import (
	"bytes"
	"log/slog"
	"runtime"
	"testing"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
)

// BenchmarkParseStream measures the NDJSON parse cost per streamed token (one frame per
// token, as Ollama sends it), reported as ns/token and allocs/token.
func BenchmarkParseStream(b *testing.B) {
	for _, c := range []struct {
		name string
		kind backends.DeltaKind
	}{{"content", backends.KindContent}, {"thinking", backends.KindThinking}} {
		b.Run(c.name, func(b *testing.B) {
			const tokens = 1000
			sc := backendtest.Script{}
			for range tokens {
				sc.Deltas = append(sc.Deltas, backends.Delta{Kind: c.kind, Text: " token"})
			}
			body := backendtest.OllamaStream(sc, "llama3:8b")
			log := slog.New(slog.DiscardHandler)
			noop := func(backends.Delta) error { return nil }
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			for b.Loop() {
				p := newParser(log, "llama3:8b", noop)
				if err := p.Parse(bytes.NewReader(body)); err != nil {
					b.Fatal(err)
				}
				p.Result()
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			n := float64(b.N) * tokens
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/token")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/token")
		})
	}
}
