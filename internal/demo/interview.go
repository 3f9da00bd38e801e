package demo

import (
	"fmt"
	"strings"

	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/selftest"
)

// interview is what the demo gateway asks a node that registers, as the real gateway
// does (§4.3.3): the self-test's prompts on the node's interviewModel, else its first
// chat model. (`pin-clientd gateway --interview` asks the same.)
func interview(n pintest.Node) *protocol.InterviewRequest {
	model := n.InterviewModel
	for _, m := range n.Models {
		if model == "" && !strings.HasPrefix(m, "tts:") {
			model = m
		}
	}
	if model == "" {
		return nil
	}
	req := &protocol.InterviewRequest{NodeID: n.ID, Model: model, TimeoutMs: 120000}
	for _, p := range selftest.DefaultPrompts {
		req.Prompts = append(req.Prompts, protocol.Prompt{ID: p.ID, Prompt: p.Prompt, MaxTokens: 16})
	}
	return req
}

// grade grades the answers with the self-test's rule and the published thresholds.
func grade(req *protocol.InterviewRequest, res *protocol.InterviewResult) protocol.Message {
	expect := map[string]string{}
	for _, p := range selftest.DefaultPrompts {
		expect[p.ID] = p.Expect
	}
	ok, tokens, ms := 0, 0, int64(0)
	for _, r := range res.Results {
		if r.Error == "" && selftest.Correct(expect[r.PromptID], r.Response) {
			ok++
		}
		tokens += r.TokensGenerated
		ms += r.TotalMs
	}
	acc, tps := 0.0, 0.0
	if n := len(req.Prompts); n > 0 {
		acc = 100 * float64(ok) / float64(n)
	}
	if ms > 0 {
		tps = float64(tokens) * 1000 / float64(ms)
	}
	return &protocol.InterviewComplete{InterviewID: res.InterviewID, NodeID: req.NodeID, Tier: selftest.Tier(acc, tps),
		Accuracy: acc, TokensPerSec: tps, Reason: fmt.Sprintf("%d of %d answers correct (demo gateway)", ok, len(req.Prompts))}
}
