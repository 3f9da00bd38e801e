package selftest

import (
	"strings"
	"unicode"
)

// Prompt is one interview question of the self-test and the answer it expects.
type Prompt struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"` // factual, arithmetic or instruction
	Prompt string `json:"prompt"`
	Expect string `json:"expect"`
}

// DefaultPrompts is the self-test's own interview: short questions a model worth routing
// answers in one word. It is not the gateway's (unpublished) prompt set; it only shows
// whether the node would clear the published thresholds (§8.5) with a comparable load.
var DefaultPrompts = []Prompt{
	{ID: "capital", Kind: "factual", Prompt: "What is the capital of France? Answer with one word.", Expect: "Paris"},
	{ID: "symbol", Kind: "factual", Prompt: "What is the chemical symbol for gold? Answer with the symbol only.", Expect: "Au"},
	{ID: "add", Kind: "arithmetic", Prompt: "What is 17 + 25? Answer with the number only.", Expect: "42"},
	{ID: "multiply", Kind: "arithmetic", Prompt: "What is 9 times 8? Answer with the number only.", Expect: "72"},
	{ID: "echo", Kind: "instruction", Prompt: "Reply with exactly the word OK and nothing else.", Expect: "OK"},
	{ID: "last-word", Kind: "instruction", Prompt: "Reply with only the last word of this sentence: the quick brown fox", Expect: "fox"},
}

// StripThinking removes reasoning a model wrote into its answer: every <think>…</think>
// block (and an unterminated <think> to the end). Thinking the backend reports
// separately never reaches the answer in the first place (§8.4).
func StripThinking(s string) string {
	for {
		lower := strings.ToLower(s)
		i := strings.Index(lower, "<think>")
		if i < 0 {
			// A server that strips the opening tag leaves "…</think>answer".
			if j := strings.Index(lower, "</think>"); j >= 0 {
				return s[j+len("</think>"):]
			}
			return s
		}
		j := strings.Index(lower[i:], "</think>")
		if j < 0 {
			return s[:i]
		}
		s = s[:i] + s[i+j+len("</think>"):]
	}
}

// Normalize is the grading form of a text: thinking removed (StripThinking), lower case,
// every character that is neither a letter, a digit nor a space replaced by a space
// (punctuation, a trailing period, markdown ** and quotes), spaces collapsed and trimmed.
func Normalize(s string) string {
	s = strings.ToLower(StripThinking(s))
	b := make([]rune, 0, len(s))
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b = append(b, r)
		} else {
			b = append(b, ' ')
		}
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// Correct grades one answer by normalised exact match: the normalised expected answer
// must equal the normalised response, or its first word ("Paris." and "Paris is the
// capital" pass for "paris"; "The capital is Paris" does not). An empty expectation
// never matches.
func Correct(expect, response string) bool {
	want, got := Normalize(expect), Normalize(response)
	if want == "" {
		return false
	}
	if got == want {
		return true
	}
	first, _, _ := strings.Cut(got, " ")
	return first == want
}

// Tiers, as published (§8.5).
const (
	TierVerified = "verified"
	TierStandard = "standard"
	TierSlow     = "slow"
	TierFailed   = "failed"
)

// Tier is the tier the published thresholds give (§8.5), accuracy in percent and
// tokens/s as the gateway scores them (Σtokens_generated / Σtotal_ms):
//
//	verified  accuracy > 90 % and > 20 tok/s
//	standard  accuracy > 70 % and > 10 tok/s
//	slow      accuracy > 70 % and ≤ 10 tok/s
//	failed    accuracy ≤ 70 %
//
// The table leaves exactly 10 tok/s open; it counts as slow here.
func Tier(accuracyPct, tokensPerSec float64) string {
	switch {
	case accuracyPct > 90 && tokensPerSec > 20:
		return TierVerified
	case accuracyPct > 70 && tokensPerSec > 10:
		return TierStandard
	case accuracyPct > 70:
		return TierSlow
	default:
		return TierFailed
	}
}
