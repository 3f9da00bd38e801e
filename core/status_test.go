package core

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestStateText(t *testing.T) {
	for s := StateOffline; int(s) < len(stateNames); s++ {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal %d: %v", int(s), err)
		}
		if want := `"` + s.String() + `"`; string(b) != want {
			t.Errorf("marshal %d = %s, want %s", int(s), b, want)
		}
		var back State
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("round trip %s = %v, %v", b, back, err)
		}
	}
	var s State
	if err := json.Unmarshal([]byte(`"sleeping"`), &s); err == nil || !strings.Contains(err.Error(), `"sleeping"`) {
		t.Errorf("unknown word: err = %v, want an error naming it", err)
	}
	if err := json.Unmarshal([]byte(`2`), &s); err == nil {
		t.Error("a number decoded without error")
	}
	if _, err := json.Marshal(State(99)); err == nil {
		t.Error("a state without a name marshalled")
	}
}
