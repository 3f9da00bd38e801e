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
