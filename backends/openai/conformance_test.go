package openai_test

import (
	"net/http"
	"testing"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/backends/openai"
)

func TestConformance(t *testing.T) {
	backendtest.RunConformance(t, backendtest.Target{
		Mode: backends.ModeOpenAI,
		New: func(baseURL string, hc *http.Client) backends.Backend {
			return openai.New(baseURL, openai.Options{HTTPClient: hc})
		},
	})
}
