package control

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/core/transport"
	"github.com/pin-client/pin-client/internal/config"
)

// reloadable is a *core.Engine with the Reload its host process adds.
type reloadable struct {
	*core.Engine
	reload func(context.Context) error
}

func (r reloadable) Reload(ctx context.Context) error { return r.reload(ctx) }

// realEngine runs a *core.Engine that starts offline and whose gateway never answers.
func realEngine(t *testing.T) reloadable {
	t.Helper()
	cfg := &config.Config{
		ClientID: "op-1", ServerURL: "ws://127.0.0.1:9/api/v1/pin/ws", Transport: "ws", ReconnectDelaySecs: 60,
		Nodes: []config.Node{{Alias: "gpu-1", InferenceURI: "http://127.0.0.1:9", APIMode: "ollama", Region: "eu-west", Capacity: 1}},
	}
	eng, err := core.New(core.Options{
		Config: cfg, Secret: protocol.NewSecret("s3cret-never-logged"), SecretSource: "env", StartOffline: true,
		NewBackend: func(config.Node) backends.Backend { return nil }, // never reached: the dial fails first
		Dial: func(context.Context, string, transport.Options) (transport.Conn, error) {
			return nil, errors.New("gateway down for the test")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err, _ := recv(t, done); err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return reloadable{Engine: eng, reload: func(context.Context) error { return errBadConfig }}
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRealEngine(t *testing.T) {
	eng := realEngine(t)
	h := serve(t, eng, nil)
	ctx := ctx10(t)

	// The snapshot fetched equals the engine's, field for field, once the engine is idle.
	waitFor(t, func() bool {
		before := jsonOf(t, eng.Status())
		_, st, err := h.c.Fetch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return jsonOf(t, st) == before && jsonOf(t, eng.Status()) == before
	}, "fetched status equals the engine's")
	st := h.c.Status()
	if st.State != core.StateOffline || len(st.Nodes) != 1 || st.Nodes[0].Alias != "gpu-1" || st.SecretSource != "env" {
		t.Fatalf("status %+v", st)
	}

	// Go online through the API: the engine tries, fails, and says why.
	ch := h.c.Subscribe(ctx)
	if err := h.c.Online(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		st, ok := recv(t, ch)
		if !ok {
			t.Fatal("watch closed")
		}
		if st.State == core.StateReconnecting {
			if !strings.Contains(st.LastError, "gateway down for the test") || st.RetryAt.IsZero() {
				t.Errorf("reconnecting: LastError %q RetryAt %v", st.LastError, st.RetryAt)
			}
			break
		}
	}
	h.c.ReconnectNow() // skips the 60 s backoff: another attempt, logged again
	var lines []string
	lctx, stopLogs := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		errc <- h.c.Logs(lctx, true, func(l core.LogLine) error {
			lines = append(lines, l.Message)
			if strings.Count(strings.Join(lines, "\n"), "cannot connect to the gateway") == 2 {
				stopLogs()
			}
			return nil
		})
	}()
	if err, _ := recv(t, errc); err != nil {
		t.Fatalf("Logs: %v", err)
	}
	if s := strings.Join(lines, "\n"); !strings.Contains(s, "pin-client engine starting") || strings.Contains(s, "s3cret") {
		t.Errorf("log lines:\n%s", s)
	}

	// Offline through the API, waiting for it.
	if err := h.c.Offline(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.c.WaitOffline(ctx); err != nil {
		t.Fatal(err)
	}
	if st := eng.Status(); st.State != core.StateOffline {
		t.Errorf("engine state %v after WaitOffline", st.State)
	}

	if err := h.c.Reload(ctx); err == nil || err.Error() != errBadConfig.Error() {
		t.Errorf("Reload = %v, want %v", err, errBadConfig)
	}
}
