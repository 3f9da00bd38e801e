// Package nodecheck connects backends/detect's node check to the engine
// (core.Options.CheckNode), for the daemon and the desktop app alike. It exists so that
// neither core nor backends has to know the other.
package nodecheck

import (
	"context"
	"log/slog"

	"github.com/pin-client/pin-client/backends/detect"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/config"
)

// For returns a core.Options.CheckNode that runs detect.CheckNode on a node's backend
// (with its apiKey, for servers that require one).
func For(log *slog.Logger) func(context.Context, config.Node) []core.NodeProblem {
	return func(ctx context.Context, n config.Node) []core.NodeProblem {
		var out []core.NodeProblem
		for _, p := range detect.CheckNode(ctx, n.InferenceURI, n.APIMode, detect.Options{Logger: log, APIKey: n.APIKey}) {
			out = append(out, core.NodeProblem{Severity: string(p.Severity), Message: p.Message, Fix: p.Fix})
		}
		return out
	}
}
