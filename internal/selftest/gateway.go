package selftest

import (
	"fmt"
	"strings"

	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
)

// GatewayInterview is the interview a local gateway (`pin-clientd gateway --interview`,
// the demo) asks a node that registers, as the real gateway does (§4.3.3): the
// self-test's prompts on the node's interviewModel, else its first chat model; a node
// without models is not interviewed. It fits pintest.Options.InterviewOnRegister.
func GatewayInterview(n pintest.Node) *protocol.InterviewRequest {
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
	for _, p := range DefaultPrompts {
		req.Prompts = append(req.Prompts, protocol.Prompt{ID: p.ID, Prompt: p.Prompt, MaxTokens: 16})
	}
	return req
}

// GatewayGrader grades a GatewayInterview with the self-test's rule (normalised exact
// match) and the published thresholds, and answers INTERVIEW_COMPLETE, its reason
// naming who graded ("local gateway", "demo gateway"). It fits pintest.Options.Grade.
func GatewayGrader(who string) func(*protocol.InterviewRequest, *protocol.InterviewResult) protocol.Message {
	return func(req *protocol.InterviewRequest, res *protocol.InterviewResult) protocol.Message {
		expect := map[string]string{}
		for _, p := range DefaultPrompts {
			expect[p.ID] = p.Expect
		}
		ok, tokens, ms := 0, 0, int64(0)
		for _, r := range res.Results {
			if r.Error == "" && Correct(expect[r.PromptID], r.Response) {
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
		return &protocol.InterviewComplete{InterviewID: res.InterviewID, NodeID: req.NodeID, Tier: Tier(acc, tps),
			Accuracy: acc, TokensPerSec: tps, Reason: fmt.Sprintf("%d of %d answers correct (%s)", ok, len(req.Prompts), who)}
	}
}
