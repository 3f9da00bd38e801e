package ollama_test

import (
	"net/http"
	"testing"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/backends/ollama"
)

func TestConformance(t *testing.T) {
	backendtest.RunConformance(t, backendtest.Target{
		Mode: backends.ModeOllama,
		New: func(baseURL string, hc *http.Client) backends.Backend {
			return ollama.New(baseURL, ollama.Options{HTTPClient: hc})
		},
	})
}
