package host_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/control"
	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/internal/host"
	"github.com/pin-client/pin-client/internal/owner"
)

// A pause through the control API survives a reload (the new engine starts paused), and
// Resume brings the operator back on the gateway.
func TestPauseSurvivesReload(t *testing.T) {
	f, h, ctx, _ := serving(t, control.KindDaemon)
	c := control.NewClient(f.sock, nil)
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	if _, err := c.RequestPause(ctx, until); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, func(s core.Status) bool {
		return s.State == core.StateOffline && s.Paused && s.PausedUntil.Equal(until) && s.PauseReason == owner.ReasonManual
	})
	f.writeConfig(2, pintest.DefaultClientID)
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	st := h.Status()
	if !st.Paused || st.State != core.StateOffline || len(st.Nodes) != 2 {
		t.Fatalf("after reload: paused %v, state %v, %d nodes; want paused offline with 2", st.Paused, st.State, len(st.Nodes))
	}
	if f.gw.Sessions() != 1 {
		t.Fatalf("the reloaded engine connected while paused: %d sessions", f.gw.Sessions())
	}
	if err := c.RequestResume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.gw.WaitSessions(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := f.gw.WaitNodes(ctx, 2); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, func(s core.Status) bool { return !s.Paused && s.State == core.StateOnline })
}

// Outside the serving hours the engine never connects and says until when; Resume
// serves anyway until the schedule's next change.
func TestScheduleKeepsEngineOffline(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	from, to := now.Add(2*time.Hour), now.Add(3*time.Hour)
	b, err := json.Marshal(map[string]any{
		"clientId": pintest.DefaultClientID, "serverUrl": f.gw.URL(), "transport": "ws",
		"nodes":    []map[string]any{{"alias": "gpu-ollama", "inferenceUri": f.ollama.URL, "apiMode": "ollama", "region": "us-east", "capacity": 2}},
		"schedule": map[string]any{"from": from.Format("15:04"), "to": to.Format("15:04")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), f.options(control.KindDaemon))
	if err != nil {
		t.Fatal(err)
	}
	start(t, h)
	st := waitState(t, h, func(s core.Status) bool { return s.Paused })
	if st.PauseReason != owner.ReasonSchedule || st.PausedUntil.Format("15:04") != from.Format("15:04") {
		t.Fatalf("paused %q until %v; want the schedule until %s", st.PauseReason, st.PausedUntil, from.Format("15:04"))
	}
	if f.gw.Sessions() != 0 {
		t.Fatalf("connected outside the serving hours: %d sessions", f.gw.Sessions())
	}
	h.Resume()
	ctx := waitCtx(t)
	if _, err := f.gw.WaitNodes(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, func(s core.Status) bool { return !s.Paused && s.State == core.StateOnline })
}
