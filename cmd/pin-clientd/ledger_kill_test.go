package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/host"
	"github.com/pin-client/pin-client/internal/ledger"
	"github.com/pin-client/pin-client/internal/testbin"
)

// TestLedgerSurvivesKill9 runs the real binary: it serves N jobs through the fake
// gateway and is SIGKILLed the moment the gateway has the last result. Every job the
// gateway saw finish has its receipt in the ledger, even with commits slowed down.
func TestLedgerSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	bin := testbin.Build(t, "github.com/pin-client/pin-client/cmd/pin-clientd")
	dir := t.TempDir()
	gw := pintest.New(t, pintest.Options{})
	be := backendtest.NewOllama(t, backendtest.Answer("a", "b", "c"))
	be.SetModels("llama3:8b")
	b, _ := json.Marshal(map[string]any{"clientId": pintest.DefaultClientID, "serverUrl": gw.URL(), "transport": "ws",
		"nodes": []map[string]any{{"alias": "gpu", "inferenceUri": be.URL, "apiMode": "ollama", "region": "global", "capacity": 4}}})
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-c", cfg, "-n", "4", "--queue", "64", "--control-socket", host.NoSocket)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = []string{"PIN_API_SECRET=" + pintest.DefaultSecret, "HOME=" + dir, "XDG_STATE_HOME=" + state,
		"PIN_TEST_LEDGER_COMMIT_DELAY=100ms", // a slow disk: without the wait for the commit, receipts would be lost
		"PATH=" + os.Getenv("PATH")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if _, err := gw.WaitNodes(ctx, 1); err != nil {
		t.Fatal(err, stderr.String())
	}
	const n = 40
	jobs := make([]*pintest.Job, n)
	for i := range jobs {
		j, err := gw.Infer(ctx, protocol.InferencePayload{Model: "llama3:8b", Stream: i%2 == 0, Messages: json.RawMessage(`[{"role":"user","content":"hi"}]`)})
		if err != nil {
			t.Fatal(err)
		}
		jobs[i] = j
	}
	for _, j := range jobs {
		select {
		case <-j.Done():
		case <-ctx.Done():
			t.Fatalf("job %s never finished\n%s", j.ID, stderr.String())
		}
	}
	// The gateway has every result: kill at once, no chance to flush anything more.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	s, err := ledger.Open(context.Background(), ledger.Options{Path: filepath.Join(state, "pin-client", ledger.FileName)})
	if err != nil {
		t.Fatalf("open the ledger after kill -9: %v\n%s", err, stderr.String())
	}
	defer s.Close()
	rs, err := s.Jobs(context.Background(), ledger.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ledger.Receipt{}
	for _, r := range rs {
		got[r.RequestID] = r
	}
	for i, j := range jobs {
		r, ok := got[j.ID]
		if !ok {
			t.Errorf("job %d (%s): no receipt after kill -9", i, j.ID)
			continue
		}
		if r.Outcome != ledger.OutcomeOK || r.Node != "gpu" || r.ClientID != pintest.DefaultClientID || r.CompletionTokens != 3 {
			t.Errorf("job %s: receipt %+v", j.ID, r)
		}
	}
	if len(rs) != n {
		t.Errorf("%d receipts, want %d", len(rs), n)
	}
	if t.Failed() {
		t.Log("daemon log:\n" + stderr.String())
	}
}
