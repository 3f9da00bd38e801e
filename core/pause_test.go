package core_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
)

// A pause drains the running job (answered), withdraws every node from the gateway's
// routing while it drains (re-registration with no models, an empty model list), answers
// what the gateway still sends, goes offline, and serves again after Resume.
func TestPauseWithdrawsDrainsAndResumes(t *testing.T) {
	forBoth(t, func(t *testing.T, tr string) {
		r := startRelay(t, tr, nil)
		ctx := tctx(t)
		if _, err := r.gw.WaitNodes(ctx, 3); err != nil {
			t.Fatal(err)
		}
		if _, err := r.gw.WaitModels(ctx, func(m []string) bool { return slices.Contains(m, "llama3:8b") }); err != nil {
			t.Fatal(err)
		}
		hold := make(chan struct{})
		s := backendtest.Answer("done")
		s.Hold = hold
		r.ollama.SetScript(s)
		running, err := r.gw.Infer(ctx, protocol.InferencePayload{Model: "llama3:8b", Messages: hi, Stream: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := waitStatus(ctx, r.eng, func(st core.Status) bool { return st.InFlight == 1 }); err != nil {
			t.Fatal(err)
		}

		r.eng.Pause(time.Time{})
		if err := waitStatus(ctx, r.eng, func(st core.Status) bool {
			return st.Paused && st.PauseReason == core.ReasonPausedByYou && st.PausedUntil.IsZero() && st.State == core.StateDraining
		}); err != nil {
			t.Fatal(err)
		}
		// Withdrawn: the gateway's index holds no model of ours, so consumers are not routed here.
		if _, err := r.gw.WaitModels(ctx, func(m []string) bool { return len(m) == 0 }); err != nil {
			t.Fatal(err)
		}
		if err := r.gw.Wait(ctx, func() bool {
			for _, n := range r.gw.Nodes() {
				if len(n.Models) > 0 {
					return false
				}
			}
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if m := r.gw.ChatModels(); len(m) != 0 {
			t.Fatalf("consumers still see %v during the pause", m)
		}
		// A job the gateway sends anyway is answered, not lost.
		late, err := r.gw.Infer(ctx, protocol.InferencePayload{Model: "llama3:8b", Messages: hi})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := late.Wait(ctx); err != nil || res.OK() || !strings.Contains(res.Err, "going offline") {
			t.Fatalf("job sent during the pause: %+v %v", res, err)
		}

		close(hold)
		if res, err := running.Wait(ctx); err != nil || !res.OK() {
			t.Fatalf("running job not answered: %+v %v", res, err)
		}
		if err := waitStatus(ctx, r.eng, func(st core.Status) bool { return st.State == core.StateOffline && st.Paused }); err != nil {
			t.Fatal(err)
		}
		if err := r.gw.Wait(ctx, func() bool { return !r.gw.Connected() }); err != nil {
			t.Fatal(err)
		}
		if _, err := r.gw.Infer(ctx, protocol.InferencePayload{Model: "llama3:8b", Messages: hi}); !errors.Is(err, pintest.ErrNotConnected) {
			t.Fatalf("the gateway could still send a job while paused: %v", err)
		}

		r.eng.Resume()
		if err := r.gw.WaitSessions(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if _, err := r.gw.WaitModels(ctx, func(m []string) bool { return slices.Contains(m, "llama3:8b") }); err != nil {
			t.Fatal(err)
		}
		if err := waitStatus(ctx, r.eng, func(st core.Status) bool { return st.State == core.StateOnline && !st.Paused }); err != nil {
			t.Fatal(err)
		}
		after, err := r.gw.Infer(ctx, protocol.InferencePayload{Model: "llama3:8b", Messages: hi})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := after.Wait(ctx); err != nil || !res.OK() {
			t.Fatalf("after resume: %+v %v", res, err)
		}
		for _, j := range []*pintest.Job{running, late, after} {
			if n := r.gw.Terminals(j.ID); n != 1 {
				t.Errorf("job %s answered %d times", j.ID, n)
			}
		}
	})
}

// A pause with an end shows it, keeps the engine offline, and a pause while offline by
// choice does not bring it online at its end.
func TestPauseUntilShownAndOfflineKept(t *testing.T) {
	r := startRelay(t, "sse", nil)
	ctx := tctx(t)
	if _, err := r.gw.WaitNodes(ctx, 3); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	r.eng.Pause(until)
	if err := waitStatus(ctx, r.eng, func(st core.Status) bool {
		return st.State == core.StateOffline && st.Paused && st.PausedUntil.Equal(until)
	}); err != nil {
		t.Fatal(err)
	}
	r.eng.GoOffline()
	r.eng.Resume()
	if err := waitStatus(ctx, r.eng, func(st core.Status) bool { return !st.Paused && st.State == core.StateOffline }); err != nil {
		t.Fatal(err)
	}
	if r.gw.Sessions() != 1 {
		t.Fatalf("resumed into a session although the operator went offline: %d sessions", r.gw.Sessions())
	}
}
