package selftest

import "testing"

func TestCorrect(t *testing.T) {
	tests := []struct {
		expect, response string
		want             bool
	}{
		{"Paris", "Paris", true},
		{"Paris", "paris", true},
		{"Paris", "  Paris.\n", true},             // trailing period, spaces
		{"Paris", "**Paris**", true},              // markdown
		{"Paris", "\"Paris\"", true},              // quotes
		{"Paris", "Paris is the capital.", true},  // first word
		{"Paris", "Paris, of course", true},       // punctuation after the first word
		{"Paris", "The capital is Paris.", false}, // not the first word
		{"Paris", "Parisian", false},              // no prefix matching
		{"Paris", "", false},                      // empty answer
		{"Paris", "hello hello hello", false},     // the tiny e2e model
		{"42", "42", true},
		{"42", "42.", true},
		{"42", "The answer is 42", false},
		{"42", "420", false},
		{"72", "72!", true},
		{"Au", "AU", true}, // case
		{"OK", "ok", true},
		{"OK", "OK!", true},
		{"OK", "Okay", false},
		{"fox", "Fox.", true},
		{"Paris", "<think>Lyon? no</think>Paris", true}, // inline thinking ignored
		{"Paris", "<THINK>hmm</THINK>\n\nParis.", true}, // any case
		{"Paris", "<think>Paris</think>Lyon", false},    // the thinking is not the answer
		{"Paris", "<think>Paris is the answer", false},  // unterminated: all thinking
		{"Paris", "reasoning…</think>Paris", true},      // opening tag stripped by the server
		{"new york", "New York.", true},                 // multi-word equality
		{"new york", "New York is big", false},          // multi-word: equality only
		{"", "anything", false},                         // empty expectation never matches
		{"Paris", "Paris\u00a0", true},                  // non-breaking space
		{"Zürich", "zürich.", true},                     // letters beyond ASCII
	}
	for _, tt := range tests {
		if got := Correct(tt.expect, tt.response); got != tt.want {
			t.Errorf("Correct(%q, %q) = %v, want %v (normalised %q)", tt.expect, tt.response, got, tt.want, Normalize(tt.response))
		}
	}
}

func TestDefaultPromptsAnswerThemselves(t *testing.T) {
	ids := map[string]bool{}
	for _, p := range DefaultPrompts {
		if ids[p.ID] {
			t.Errorf("duplicate prompt id %q", p.ID)
		}
		ids[p.ID] = true
		if !Correct(p.Expect, p.Expect+".") || Correct(p.Expect, "hello") {
			t.Errorf("prompt %s: expectation %q does not grade as intended", p.ID, p.Expect)
		}
	}
	if len(DefaultPrompts) < 5 {
		t.Errorf("only %d prompts", len(DefaultPrompts))
	}
}

func TestTier(t *testing.T) {
	tests := []struct {
		acc, tps float64
		want     string
	}{
		{100, 50, TierVerified},
		{90.1, 20.1, TierVerified},
		{90, 50, TierStandard},  // not above 90 %
		{100, 20, TierStandard}, // not above 20 tok/s
		{83.3, 25, TierStandard},
		{70.1, 10.1, TierStandard},
		{100, 10, TierSlow}, // exactly 10 tok/s counts as slow
		{100, 9.9, TierSlow},
		{83.3, 0.5, TierSlow},
		{70, 50, TierFailed}, // not above 70 %
		{66.7, 100, TierFailed},
		{0, 0, TierFailed},
		{0, 500, TierFailed},
	}
	for _, tt := range tests {
		if got := Tier(tt.acc, tt.tps); got != tt.want {
			t.Errorf("Tier(%v%%, %v tok/s) = %s, want %s", tt.acc, tt.tps, got, tt.want)
		}
	}
}
