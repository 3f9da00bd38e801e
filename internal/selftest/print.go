package selftest

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// WriteText prints a report for people: per node its answers, stream timings, problems
// with their fixes and the tier with the reason, then one summary row per node and the
// thresholds used.
func WriteText(w io.Writer, rep *Report) error {
	var b strings.Builder
	for _, n := range rep.Nodes {
		fmt.Fprintf(&b, "\n%s  %s  apiMode %s  models: %s\n", n.Alias, n.InferenceURI, n.APIMode, listOrNone(n.Models))
		if n.Interviewed {
			fmt.Fprintf(&b, "  interview of %s (graded by normalised exact match):\n", n.Model)
			for _, a := range n.Answers {
				mark := "✗"
				if a.Correct {
					mark = "✓"
				}
				got := fmt.Sprintf("got %q", clip(a.Response, 40))
				if a.Error != "" {
					got = "error: " + clip(a.Error, 80)
				}
				fmt.Fprintf(&b, "    %s %-10s want %-8q %s  (%d tokens in %d ms)\n", mark, a.PromptID, a.Expect, got, a.TokensGenerated, a.TotalMs)
			}
		}
		if len(n.TTFTMs) > 0 {
			parts := make([]string, len(n.TTFTMs))
			for i, d := range n.TTFTMs {
				parts[i] = fmtMs(d)
			}
			fmt.Fprintf(&b, "  streams: TTFT %s; %.1f tok/s while streaming\n", strings.Join(parts, ", "), n.StreamTokensPerSec)
		}
		for _, p := range n.Problems {
			fmt.Fprintf(&b, "  %s: %s\n", p.Severity, p.Message)
			if p.Fix != "" {
				fmt.Fprintf(&b, "    fix: %s\n", p.Fix)
			}
		}
		if !n.Interviewed {
			fmt.Fprintf(&b, "  tier %s: not interviewed; fix the error above first\n", n.Tier)
			continue
		}
		fmt.Fprintf(&b, "  tier %s: %s\n", n.Tier, n.Reason)
		if n.Fix != "" {
			fmt.Fprintf(&b, "    fix: %s\n", n.Fix)
		}
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tMODEL\tACCURACY\tTTFT p50\tTOK/S\tTIER")
	for _, n := range rep.Nodes {
		model, acc, ttft, tps := dash(n.Model), "-", "-", "-"
		if n.Interviewed {
			acc = fmt.Sprintf("%.0f%% (%d/%d)", n.AccuracyPct, n.Correct, len(n.Answers))
			tps = fmt.Sprintf("%.1f", n.TokensPerSec)
		}
		if len(n.TTFTMs) > 0 {
			ttft = fmtMs(n.TTFTMedianMs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Alias, model, acc, ttft, tps, n.Tier)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\ntiers (published thresholds): verified >90% and >20 tok/s; standard >70% and >10 tok/s; slow >70% and ≤10 tok/s; failed otherwise\n")
	b.WriteString("TTFT: request sent → first INFERENCE_CHUNK at the gateway, median of the streams; TOK/S: interview Σtokens_generated / Σtotal_ms, as the gateway scores it\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtMs(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.1f s", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0f ms", v)
	default:
		return fmt.Sprintf("%.1f ms", v)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clip shortens s to n runes with "…", on one line.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
