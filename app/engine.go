package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pin-client/pin-client/backends/auto"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/control"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/host"
	"github.com/pin-client/pin-client/internal/nodecheck"
)

// HostEngine is the EngineFactory for the real relay engine: a core.Engine with the real
// backend adapters, run by internal/host as the app's own engine (KindApp). The host
// takes the one-engine lock (Run fails with an enginelock.HeldError when another
// process serves the operator) and serves the control API at the user's endpoint, so
// `pin-clientd status|online|offline|reload` drive the app's engine too. A reload (from
// the CLI) reads the config file again and looks its secret up through secrets (nil:
// the environment and apiSecret only).
func HostEngine(secrets SecretStore) EngineFactory {
	return func(spec EngineSpec) (Engine, error) {
		log := spec.Logger
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		var mu sync.Mutex
		first := true // guarded by mu: New's build uses spec as the app checked it
		build := func(context.Context) (core.Options, error) {
			mu.Lock()
			defer mu.Unlock()
			if first {
				first = false
				return engineOptions(spec.Config, spec.Secret, spec.SecretSource, log), nil
			}
			cfg, _, err := config.Load(spec.ConfigPath, log)
			if err != nil {
				return core.Options{}, err
			}
			secret, source, err := findSecret(secrets, cfg, spec.ConfigPath)
			if err != nil {
				return core.Options{}, fmt.Errorf("api secret: %w", err)
			}
			return engineOptions(cfg, secret, source, log), nil
		}
		return host.New(context.Background(), host.Options{
			Kind: control.KindApp, Scope: control.ScopeUser, ConfigPath: spec.ConfigPath,
			Build: build, Logger: log, OnReload: spec.Reloaded,
		})
	}
}

// engineOptions are the app's engine's options for cfg. The engine starts offline and
// runs as many jobs at once as the nodes' capacities add up to (the daemon's -n): in the
// app, the capacity the operator entered per node is the only limit.
func engineOptions(cfg *config.Config, secret protocol.Secret, source string, log *slog.Logger) core.Options {
	return core.Options{
		Config:       cfg,
		Secret:       secret,
		SecretSource: source,
		Threads:      threads(cfg),
		Logger:       log,
		StartOffline: true,
		NewBackend:   auto.Backend(log),
		NewSpeaker:   auto.Speaker(log),
		CheckNode:    nodecheck.For(log), // backend problems (e.g. a model on CPU) on the dashboard
	}
}

// threads is the engine's -n for cfg: the sum of the nodes' capacities, at least 1.
func threads(cfg *config.Config) int {
	n := 0
	for _, node := range cfg.Nodes {
		n += node.Capacity
	}
	return max(1, n)
}

// AttachRunning is the real Attacher: it asks the control endpoints where engines run
// (control.DefaultPaths: the system service first, then the user's engine) and returns
// the first that serves clientID. An engine of another operator is logged and skipped.
func AttachRunning(log *slog.Logger) Attacher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, clientID string) (Remote, EngineInfo, error) {
		var errs []error
		for _, p := range control.DefaultPaths() {
			c, info, err := control.Find(ctx, p)
			if err != nil {
				errs = append(errs, err)
				if ctx.Err() != nil {
					break
				}
				continue
			}
			if info.ClientID != clientID {
				log.Warn("not attaching to a running engine of another operator", "engineClientId", info.ClientID,
					"clientId", clientID, "kind", info.Kind, "pid", info.PID, "socket", p)
				errs = append(errs, fmt.Errorf("%s serves operator %s, not %s", p, info.ClientID, clientID))
				continue
			}
			c.SetLogger(log)
			return c, info, nil
		}
		return nil, EngineInfo{}, fmt.Errorf("no engine for %s: %w", clientID, errors.Join(errs...))
	}
}
