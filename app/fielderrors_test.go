package app

import (
	"slices"
	"testing"

	"github.com/pin-client/pin-client/internal/config"
)

func TestFormProblem(t *testing.T) {
	for _, tt := range []struct {
		path, msg, want string
	}{
		{"nodes[0].region", "missing; use one of us-east, us-west", "Node 1 › Region: choose a region"},
		{"clientId", "missing; set it to your operator id (op_…) from the PIN dashboard", "Client ID: enter your operator id (op_…) from the PIN dashboard"},
		{"apiSecret", "missing; paste it", "API secret: paste your API secret (pin_sk_…) from the PIN dashboard"},
		{"nodes", "empty; add at least one node", "Nodes: add a node: Detect local servers, or Add node"},
		{"nodes[1].alias", `"a" is already used by nodes[0]; give each node its own alias`, `Node 2 › Alias: "a" is already used by Node 1; give each node its own alias`},
		{"nodes[2].capacity", `"two" is not a whole number; set how many`, `Node 3 › Capacity: "two" is not a whole number; set how many`},
		{"nodes[0].ttsModels[1]", "empty model name; remove it or name the TTS model", "Node 1 › TTS models: empty model name; remove it or name the TTS model"},
		{"serverUrl", `"ftp://x" is not a valid URL`, `Gateway URL: "ftp://x" is not a valid URL`},
		{"metricsAddr", "not loopback", "metricsAddr (in config.json): not loopback"},
	} {
		if got := formProblem(&config.FieldError{Path: tt.path, Msg: tt.msg}); got != tt.want {
			t.Errorf("formProblem(%s: %s)\n got %q\nwant %q", tt.path, tt.msg, got, tt.want)
		}
	}
}

func TestFormWarning(t *testing.T) {
	for in, want := range map[string]string{
		`nodes[0].region: "mars" is not a documented region`:                                 `Node 1 › Region: "mars" is not a documented region`,
		`nodes[1].ttsModels: ignored because nodes[1].ttsUri is not set; set ttsUri to the…`: `Node 2 › TTS models: ignored because Node 2 › TTS URL is not set; set ttsUri to the…`,
		`clientId: "x" does not start with "op_"`:                                            `Client ID: "x" does not start with "op_"`,
	} {
		if got := formWarning(in); got != want {
			t.Errorf("formWarning(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}

func TestProblemListBounded(t *testing.T) {
	five := []string{"a", "b", "c", "d", "e"}
	if got := problemList(five); len(got) != 5 {
		t.Errorf("5 problems listed as %q", got)
	}
	got := problemList(append(five, "f", "g"))
	want := []string{"a", "b", "c", "d", "…and 3 more, each shown on its field"}
	if !slices.Equal(got, want) {
		t.Errorf("7 problems listed as %q, want %q", got, want)
	}
}
