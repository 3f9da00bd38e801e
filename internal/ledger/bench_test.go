package ledger

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkRecord is the cost of one job's receipt when jobs end one at a time (no
// group commit to share): the engine's added work per job.
func BenchmarkRecord(b *testing.B) {
	s, err := Open(context.Background(), Options{Path: filepath.Join(b.TempDir(), FileName)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := rc(t0, "pin_req_0123456789abcdef", "gpu-1", OutcomeOK, 412, 230)
	b.ReportAllocs()
	for b.Loop() {
		s.Record(r)
	}
}
