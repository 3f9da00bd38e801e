// Package nodecheck is the one way pin-client checks a configured node's backend: Check
// (backends/detect.Check with the node's URL, apiMode and apiKey) serves the engine's
// node check (For, core.Options.CheckNode), `pin-clientd status`, selftest and the
// desktop app's Test button alike. It exists so that neither core nor backends has to
// know the other.
package nodecheck

import (
	"context"
	"log/slog"

	"github.com/pin-client/pin-client/backends/detect"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/config"
)

// Check probes node n's backend once: whether it can serve (Report.OK, Report.Err: one
// line with the fix), its models and its problems, most severe first. opts tunes the
// probe (timeout, GPU answer, logger); the node's apiKey is used for servers that want one.
func Check(ctx context.Context, n config.Node, opts detect.Options) detect.Report {
	opts.APIKey = n.APIKey
	return detect.Check(ctx, n.InferenceURI, n.APIMode, opts)
}

// For returns a core.Options.CheckNode that runs Check on a node's backend.
func For(log *slog.Logger) func(context.Context, config.Node) []core.NodeProblem {
	return func(ctx context.Context, n config.Node) []core.NodeProblem {
		return Problems(Check(ctx, n, detect.Options{Logger: log}))
	}
}

// Problems are r's problems as the engine reports them.
func Problems(r detect.Report) []core.NodeProblem {
	var out []core.NodeProblem
	for _, p := range r.Problems {
		out = append(out, core.NodeProblem{Severity: string(p.Severity), Message: p.Message, Fix: p.Fix})
	}
	return out
}
