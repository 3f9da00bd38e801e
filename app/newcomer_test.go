package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/pin-client/pin-client/backends/detect"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/config"
)

// fakeOllama is enough of Ollama's API for detection: its version, two chat models
// and nothing loaded.
func fakeOllama(t *testing.T) *httptest.Server {
	t.Helper()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, _ *http.Request) { reply(w, map[string]string{"version": "0.12.6"}) })
	mux.HandleFunc("GET /api/tags", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, map[string]any{"models": []map[string]string{{"name": "llama3.1:8b", "model": "llama3.1:8b"}, {"name": "qwen3:4b", "model": "qwen3:4b"}}})
	})
	mux.HandleFunc("GET /api/ps", func(w http.ResponseWriter, _ *http.Request) { reply(w, map[string]any{"models": []any{}}) })
	mux.HandleFunc("POST /api/show", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, map[string]any{"capabilities": []string{"completion", "tools"}, "model_info": map[string]any{}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// inputs counts what an operator does in the window: every field typed into and every
// tap.
type inputs struct{ n int }

func (c *inputs) typeInto(e *widget.Entry, s string) { c.n++; test.Type(e, s) }
func (c *inputs) tap(b fyne.Tappable)                { c.n++; test.Tap(b) }

// TestFirstSetupTakesThreeInputs walks the first setup as a new operator with Ollama
// running: detection finds it, the region comes from the time zone, and client ID,
// secret and "Save and go online" are all it takes to be online.
func TestFirstSetupTakesThreeInputs(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", home+"/.config")
	ollama := fakeOllama(t)
	h := newHarness(t, t.TempDir(), func(_ *harness, o *Options) {
		o.Detect = func(ctx context.Context) []Found {
			s, err := detect.Probe(ctx, ollama.URL, detect.Options{})
			if err != nil {
				t.Errorf("detect.Probe(%s): %v", ollama.URL, err)
				return nil
			}
			f := Found{Kind: s.Kind.Name(), URL: s.URL, APIMode: s.APIMode, Capacity: s.Parallel}
			for _, m := range s.ChatModels() {
				f.Models = append(f.Models, m.Name)
			}
			return []Found{f}
		}
	})
	t.Setenv("TZ", "America/Chicago") // after newHarness, which sets its own
	h.u.start(false)
	f := h.u.setup
	h.until("detection", func() bool { return len(f.nodes) == 1 })

	var in inputs
	in.typeInto(f.clientID, "op_newcomer")
	in.typeInto(f.secret, testSecret)
	if f.save.Disabled() {
		t.Fatalf("after client ID and secret, Save is disabled: %q", f.problem.Text)
	}
	in.tap(f.save)
	h.until("online", func() bool { return h.u.last.State == core.StateOnline })

	if in.n != 3 {
		t.Errorf("first setup took %d inputs, want 3", in.n)
	}
	cfg, _, err := config.Load(h.u.configPath(), nil)
	if err != nil {
		t.Fatalf("saved config: %v", err)
	}
	n := cfg.Nodes[0]
	if n.Region != "us-east" || n.APIMode != "ollama" || n.InferenceURI != ollama.URL || n.Capacity < 1 {
		t.Errorf("saved node %+v: want region us-east (America/Chicago), ollama at %s", n, ollama.URL)
	}
}

// TestEveryProblemShownAtItsField: all problems at once, each on its field, named as
// the form labels it.
func TestEveryProblemShownAtItsField(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.u.start(false)
	f := h.u.setup
	h.until("detection", func() bool { return len(f.nodes) == 1 })
	n := f.nodes[0]
	n.alias.SetText("")
	n.region.ClearSelected()
	n.capacity.SetText("x")

	want := "Client ID: enter your operator id (op_…) from the PIN dashboard\n" +
		"API secret: paste your API secret (pin_sk_…) from the PIN dashboard\n" +
		"Node 1 › Alias: give the node a name, e.g. GPU-1\n" +
		"Node 1 › Region: choose a region\n" +
		`Node 1 › Capacity: "x" is not a whole number; set how many requests the node serves at once, 1 or more`
	if f.problem.Text != want {
		t.Errorf("problems:\n%s\nwant:\n%s", f.problem.Text, want)
	}
	for name, e := range map[string]*widget.Entry{"client ID": f.clientID, "secret": f.secret, "alias": n.alias, "capacity": n.capacity} {
		if e.Validate() == nil {
			t.Errorf("the %s field shows no error", name)
		}
	}
	if err := n.alias.Validate(); err == nil || err.Error() != "give the node a name, e.g. GPU-1" {
		t.Errorf("alias error = %v", err)
	}
	if !n.regionErr.Visible() || n.regionErr.Text != "choose a region" {
		t.Errorf("region error: visible %v text %q", n.regionErr.Visible(), n.regionErr.Text)
	}
	if n.card.Subtitle != "" {
		t.Errorf("card subtitle %q: the form does not speak config paths", n.card.Subtitle)
	}
	n.region.SetSelected("global")
	if n.regionErr.Visible() {
		t.Error("region error still shown after choosing one")
	}
}

// TestWheelScrollsSetupOverFields: the wheel over an entry (Client ID) scrolls the setup page (an
// entry's own scroller used to take the event and do nothing).
func TestWheelScrollsSetupOverFields(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.u.start(false)
	f := h.u.setup
	h.until("detection", func() bool { return len(f.nodes) == 1 })
	w := h.u.win
	w.Resize(fyne.NewSize(700, 400))
	var page *container.Scroll
	for _, o := range test.LaidOutObjects(f.content) {
		if s, ok := o.(*container.Scroll); ok && page == nil {
			page = s
		}
	}
	if page == nil {
		t.Fatal("no page scroll")
	}
	d := fyne.CurrentApp().Driver()
	pos := d.AbsolutePositionForObject(f.clientID).AddXY(10, 10)
	test.Scroll(w.Canvas(), pos, 0, -25) // one notch
	if page.Offset.Y != 25*wheelStep {
		t.Errorf("wheel over the Client ID field at %v: page offset %v, want %v", pos, page.Offset.Y, 25*wheelStep)
	}
}

// TestFirstViewIsAToDoList: values still to fill in are listed plainly; a wrong value
// turns the list red.
func TestFirstViewIsAToDoList(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.u.start(false)
	f := h.u.setup
	h.until("detection", func() bool { return len(f.nodes) == 1 })
	if !f.problem.Visible() || f.problem.Importance != widget.MediumImportance {
		t.Errorf("first view: problems %q shown as %v, want a plain list", f.problem.Text, f.problem.Importance)
	}
	f.nodes[0].capacity.SetText("x")
	if f.problem.Importance != widget.DangerImportance {
		t.Errorf("a wrong value: importance %v, want danger", f.problem.Importance)
	}
}
