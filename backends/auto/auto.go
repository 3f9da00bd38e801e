// Package auto builds the right adapter for a configured node: apiMode "openai" gets the
// OpenAI-compatible adapter, "ollama" the Ollama adapter. It is the one place that knows
// every adapter, so the engine itself sees only the backends interfaces.
package auto

import (
	"log/slog"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/ollama"
	"github.com/pin-client/pin-client/backends/openai"
	"github.com/pin-client/pin-client/internal/config"
)

// New returns the adapter for a node: apiMode "openai" gets the OpenAI-compatible
// adapter (with the node's apiKey, if any); anything else Ollama, as in the original
// daemon (config validation refuses unknown modes before this).
func New(n config.Node, log *slog.Logger) backends.Backend {
	if n.APIMode == backends.ModeOpenAI {
		return openai.New(n.InferenceURI, openai.Options{Logger: log, APIKey: n.APIKey})
	}
	return ollama.New(n.InferenceURI, ollama.Options{Logger: log})
}

// Backend is core.Options.NewBackend for real adapters.
func Backend(log *slog.Logger) func(config.Node) backends.Backend {
	return func(n config.Node) backends.Backend { return New(n, log) }
}

// Speaker is core.Options.NewSpeaker: TTS servers speak the OpenAI speech API.
func Speaker(log *slog.Logger) func(string) backends.Speaker {
	return func(uri string) backends.Speaker { return openai.New(uri, openai.Options{Logger: log}) }
}
