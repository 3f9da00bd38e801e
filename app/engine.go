package app

import (
	"github.com/pin-client/pin-client/backends/auto"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/nodecheck"
)

// NewEngine is the EngineFactory for the real relay engine (core.Engine), with the
// real backend adapters. It is the only place the app names the engine's constructor.
// The engine runs as many jobs at once as the nodes' capacities add up to (the daemon's
// -n): in the app, the capacity the operator entered per node is the only limit.
func NewEngine(spec EngineSpec) (Engine, error) {
	cfg, log := spec.Config, spec.Logger
	return core.New(core.Options{
		Config:       cfg,
		Secret:       spec.Secret,
		SecretSource: spec.SecretSource,
		Threads:      threads(cfg),
		Logger:       log,
		StartOffline: true,
		NewBackend:   auto.Backend(log),
		NewSpeaker:   auto.Speaker(log),
		CheckNode:    nodecheck.For(log), // backend problems (e.g. a model on CPU) on the dashboard
	})
}

// threads is the engine's -n for cfg: the sum of the nodes' capacities, at least 1.
func threads(cfg *config.Config) int {
	n := 0
	for _, node := range cfg.Nodes {
		n += node.Capacity
	}
	return max(1, n)
}
