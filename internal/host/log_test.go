package host

import (
	"slices"
	"testing"

	"github.com/pin-client/pin-client/core"
)

func TestLastLines(t *testing.T) {
	l := func(msgs ...string) []core.LogLine {
		out := []core.LogLine{}
		for _, m := range msgs {
			out = append(out, core.LogLine{Message: m})
		}
		return out
	}
	msgs := func(ls []core.LogLine) []string {
		out := []string{}
		for _, x := range ls {
			out = append(out, x.Message)
		}
		return out
	}
	for _, tc := range []struct {
		n     int
		parts [][]core.LogLine
		want  []string
	}{
		{3, [][]core.LogLine{l("a", "b"), l("c")}, []string{"a", "b", "c"}},
		{2, [][]core.LogLine{l("a", "b"), l("c")}, []string{"b", "c"}},
		{2, [][]core.LogLine{l("a", "b", "c"), nil, l("d", "e")}, []string{"d", "e"}},
		{4, [][]core.LogLine{l("a", "b", "c"), nil, l("d", "e")}, []string{"b", "c", "d", "e"}},
		{5, nil, []string{}},
	} {
		if got := msgs(lastLines(tc.n, tc.parts...)); !slices.Equal(got, tc.want) {
			t.Errorf("lastLines(%d, %v) = %v, want %v", tc.n, tc.parts, got, tc.want)
		}
	}
}

// publish merges the carried lines with the engine's log once per engine snapshot, and
// never drops the carried lines (an engine that has logged nothing yet included).
func TestPublishCarriesLog(t *testing.T) {
	h := &Host{carry: []core.LogLine{{Message: "old"}}}
	h.publish(core.Status{})
	if got := h.Status().Log; len(got) != 1 || got[0].Message != "old" {
		t.Fatalf("empty engine log: %v", got)
	}
	eng := []core.LogLine{{Message: "new"}}
	h.publish(core.Status{Log: eng})
	first := h.Status().Log
	h.publish(core.Status{Log: eng})
	second := h.Status().Log
	if len(second) != 2 || second[0].Message != "old" || second[1].Message != "new" || &first[0] != &second[0] {
		t.Fatalf("second publish of one snapshot: %v (shared %v)", second, &first[0] == &second[0])
	}
}
