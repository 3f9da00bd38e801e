package config

import (
	"slices"
	"testing"
)

// TestProblemsListsEveryFieldError: Problems goes on after the first error, in Check's
// order, so Check's error is its first.
func TestProblemsListsEveryFieldError(t *testing.T) {
	cfg := Config{ServerURL: "ftp://x", Nodes: []Node{
		{Alias: "a", InferenceURI: "http://localhost:11434", APIMode: "ollama", Capacity: 1},
		{Alias: "a", APIMode: "OLLAMA", Region: "eu-west"},
	}}
	_, errs := cfg.Problems()
	var paths []string
	for _, e := range errs {
		paths = append(paths, e.Path)
	}
	want := []string{"clientId", "serverUrl", "nodes[0].region", "nodes[1].inferenceUri", "nodes[1].apiMode", "nodes[1].capacity", "nodes[1].alias"}
	if !slices.Equal(paths, want) {
		t.Errorf("paths = %q, want %q", paths, want)
	}
	_, err := cfg.Check()
	if err == nil || err.Error() != errs[0].Error() {
		t.Errorf("Check() = %v, want Problems' first %v", err, errs[0])
	}
	ok := Config{ClientID: "op_x", Nodes: []Node{{Alias: "a", InferenceURI: "http://localhost:11434", APIMode: "ollama", Region: "global", Capacity: 1}}}
	if _, errs := ok.Problems(); len(errs) != 0 {
		t.Errorf("valid config: %v", errs)
	}
}
