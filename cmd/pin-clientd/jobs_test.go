package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pin-client/pin-client/internal/ledger"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden")

var ledgerT0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// ledgerFixture writes a week of receipts into a ledger in a new state directory.
func ledgerFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, err := ledger.Open(context.Background(), ledger.Options{Path: filepath.Join(dir, ledger.FileName)})
	if err != nil {
		t.Fatal(err)
	}
	add := func(ago time.Duration, id, node, model, kind, outcome, reason string, p, c int64, ttft, dur time.Duration) {
		r := ledger.Receipt{Time: ledgerT0.Add(-ago), ClientID: "op_test", RequestID: id, Node: node, Model: model, Kind: kind, Outcome: outcome, Reason: reason,
			PromptTokens: p, CompletionTokens: c, TTFT: ttft, Duration: dur, PricePer1K: 0.002}
		if c > 0 && dur > ttft {
			r.TokensPerSec = float64(c) / (dur - ttft).Seconds()
		}
		if outcome == ledger.OutcomeOK && kind != ledger.KindInterview {
			r.Earnings = float64(p+c) / 1000 * 0.002
		}
		s.Record(r)
	}
	add(10*time.Minute, "req_a1", "gpu-1", "llama3:8b", ledger.KindChat, ledger.OutcomeOK, "", 412, 230, 180*time.Millisecond, 2300*time.Millisecond)
	add(25*time.Minute, "req_a2", "gpu-1", "llama3:8b", ledger.KindChat, ledger.OutcomeTimeout, "backend did not finish within 2m0s", 0, 0, 0, 2*time.Minute)
	add(2*time.Hour, "req_a3", "gpu-2", "qwen2.5:14b", ledger.KindChat, ledger.OutcomeOK, "", 1200, 800, 350*time.Millisecond, 12*time.Second)
	add(3*time.Hour, "req_a4", "gpu-2", "qwen2.5:14b", ledger.KindChat, ledger.OutcomeBusy, "operator busy: 8 jobs already waiting for a free slot (limit 8); retry on another node", 0, 0, 0, 0)
	add(5*time.Hour, "iv_1", "gpu-1", "llama3:8b", ledger.KindInterview, ledger.OutcomeOK, "", 0, 96, 210*time.Millisecond, 4*time.Second)
	add(26*time.Hour, "req_b1", "gpu-1", "llama3:8b", ledger.KindChat, ledger.OutcomeOK, "", 300, 500, 150*time.Millisecond, 5*time.Second)
	add(50*time.Hour, "req_c1", "gpu-2", "kokoro", ledger.KindTTS, ledger.OutcomeOK, "", 0, 0, 0, 900*time.Millisecond)
	add(75*time.Hour, "req_d1", "gpu-2", "qwen2.5:14b", ledger.KindChat, ledger.OutcomeLinkLost, "gateway link lost mid-job", 0, 0, 0, 3*time.Second)
	add(6*24*time.Hour, "req_e1", "gpu-1", "llama3:8b", ledger.KindChat, ledger.OutcomeOK, "", 5000, 2000, 220*time.Millisecond, 30*time.Second)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func fixLedgerClock(t *testing.T) {
	n, l := ledgerNow, ledgerLoc
	ledgerNow, ledgerLoc = func() time.Time { return ledgerT0 }, time.UTC
	t.Cleanup(func() { ledgerNow, ledgerLoc = n, l })
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -run %s -update rewrites it):\n got:\n%s\nwant:\n%s", path, t.Name(), got, want)
	}
}

func TestLedgerVerbsGolden(t *testing.T) {
	fixLedgerClock(t)
	dir := ledgerFixture(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"jobs", []string{"jobs"}},
		{"jobs_week_gpu2", []string{"jobs", "--since", "7d", "--node", "gpu-2"}},
		{"jobs_limit_csv", []string{"jobs", "--since", "30d", "--limit", "3", "--csv"}},
		{"jobs_json", []string{"jobs", "--since", "1h", "--json"}},
		{"earnings_day", []string{"earnings"}},
		{"earnings_node", []string{"earnings", "--by", "node", "--since", "48h"}},
		{"earnings_model", []string{"earnings", "--by", "model"}},
		{"jobs_empty", []string{"jobs", "--node", "nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			io, out, errb := setupTestIO()
			if err := dispatch(context.Background(), append(tc.args, "--state-dir", dir), io); err != nil {
				t.Fatalf("%v: %v (stderr %q)", tc.args, err, errb)
			}
			golden(t, tc.name, out.String())
		})
	}
}

func TestLedgerVerbsErrors(t *testing.T) {
	fixLedgerClock(t)
	dir := ledgerFixture(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"jobs", "--since", "yesterday"}, `--since "yesterday": want a duration such as 24h, 90m or 30d`},
		{[]string{"jobs", "--since", "-3d"}, `--since "-3d": want a duration`},
		{[]string{"earnings", "--by", "week"}, `--by "week": want day, node or model`},
		{[]string{"jobs", "--json", "--csv"}, "--json and --csv: pick one"},
		{[]string{"jobs", "--limit", "-2"}, "--limit -2: want 0 (all) or more"},
		{[]string{"jobs", "extra"}, `unexpected argument "extra"`},
		{[]string{"jobs", "--state-dir", filepath.Join(dir, "missing")}, "no engine running and no job ledger found"},
	} {
		io, _, _ := setupTestIO()
		args := tc.args
		if !strings.Contains(strings.Join(args, " "), "--state-dir") {
			args = append(args, "--state-dir", dir)
		}
		err := dispatch(context.Background(), args, io)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want one line containing %q", tc.args, err, tc.want)
		}
	}
}
