package pintest

// The consumer side: an OpenAI-compatible API that routes each chat request to a
// connected operator node advertising the model, the way the real network does. With it
// the gateway is a complete local PIN network for development, self-tests and benchmarks:
//
//	consumer (openai SDK) → POST /v1/chat/completions → INFERENCE_REQUEST → pin-clientd
//	                      ← OpenAI SSE chunks          ← INFERENCE_CHUNKs / RESPONSE

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pin-client/pin-client/core/protocol"
)

// Consumer API paths.
const (
	ModelsPath = "/v1/models"
	ChatPath   = "/v1/chat/completions"
)

// consumerState is the router's state, guarded by Gateway.mu.
type consumerState struct {
	inflight map[*Operator]map[string]int // operator → node alias → jobs running
}

func (c *consumerState) init() { c.inflight = map[*Operator]map[string]int{} }

// InFlight reports consumer jobs running per node alias of an operator.
func (op *Operator) InFlight() map[string]int {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	out := map[string]int{}
	for a, n := range op.g.consumer.inflight[op] {
		if n > 0 {
			out[a] = n
		}
	}
	return out
}

// UsageByOperator returns every operator's usage totals, by clientId.
func (g *Gateway) UsageByOperator() map[string]Usage {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]Usage{}
	for id, op := range g.ops {
		out[id] = op.usage
	}
	return out
}

// ChatModels lists the chat models (not tts:) advertised by online operators, sorted.
func (g *Gateway) ChatModels() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, op := range g.opOrder {
		if !op.onlineLocked() {
			continue
		}
		for _, m := range op.modelsLocked() {
			if !strings.HasPrefix(m, "tts:") && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (g *Gateway) serveConsumer(w http.ResponseWriter, r *http.Request) {
	if key := g.opts.ConsumerKey; key != "" {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(key)) != 1 {
			openAIError(w, http.StatusUnauthorized, "invalid_api_key", "missing or wrong API key: send Authorization: Bearer <key>")
			return
		}
	}
	switch {
	case r.URL.Path == ModelsPath && r.Method == http.MethodGet:
		type model struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		}
		list := struct {
			Object string  `json:"object"`
			Data   []model `json:"data"`
		}{Object: "list", Data: []model{}}
		for _, m := range g.ChatModels() {
			list.Data = append(list.Data, model{ID: m, Object: "model", OwnedBy: "pin"})
		}
		writeJSON(w, http.StatusOK, list)
	case r.URL.Path == ChatPath && r.Method == http.MethodPost:
		g.serveChat(w, r)
	default:
		openAIError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	}
}

// chatRequest is the part of an OpenAI chat request the network forwards.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            json.RawMessage `json:"messages"`
	Stream              bool            `json:"stream"`
	Temperature         *float64        `json:"temperature"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Tools               json.RawMessage `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func absent(r json.RawMessage) bool { return len(r) == 0 || string(r) == "null" }

func (g *Gateway) serveChat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "read body: "+err.Error())
		return
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "body is not a chat completion request: "+err.Error())
		return
	}
	if req.Model == "" {
		openAIError(w, http.StatusBadRequest, "invalid_request_error", `"model" is required`)
		return
	}
	if t := bytes.TrimSpace(req.Messages); len(t) == 0 || t[0] != '[' {
		openAIError(w, http.StatusBadRequest, "invalid_request_error", `"messages" must be an array`)
		return
	}
	p := protocol.InferencePayload{Model: req.Model, Messages: req.Messages, Stream: req.Stream,
		Temperature: req.Temperature, MaxTokens: req.MaxTokens}
	if p.MaxTokens == nil {
		p.MaxTokens = req.MaxCompletionTokens
	}
	if !absent(req.Tools) { // absent, never null (L5)
		p.Tools = req.Tools
		if !absent(req.ToolChoice) {
			p.ToolChoice = req.ToolChoice
		}
	}
	payload, err := json.Marshal(p)
	if err != nil {
		openAIError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}

	ctx := r.Context()
	job, err := g.route(ctx, req.Model, payload)
	if err != nil {
		var re *routeError
		if errors.As(err, &re) {
			openAIError(w, re.status, re.code, re.msg)
		} else {
			openAIError(w, http.StatusServiceUnavailable, "service_unavailable", err.Error())
		}
		return
	}
	defer g.forget(job)
	id := "chatcmpl-" + strings.TrimPrefix(job.ID, "pin_req_")
	created := g.now().Unix()
	if req.Stream {
		g.streamChat(ctx, w, job, id, created, req.Model, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
		return
	}
	res, err := g.waitJob(ctx, job)
	if err != nil {
		openAIError(w, http.StatusBadGateway, "upstream_error", err.Error())
		return
	}
	if !res.OK() {
		openAIError(w, http.StatusBadGateway, "upstream_error", res.Err)
		return
	}
	out, err := completion(res.Payload, id, created, req.Model)
	if err != nil {
		openAIError(w, http.StatusBadGateway, "upstream_error", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

type routeError struct {
	status    int
	code, msg string
}

func (e *routeError) Error() string { return e.msg }

// route waits for an online operator node that advertises model and has a free
// capacity slot (least loaded first), and sends it the job.
func (g *Gateway) route(ctx context.Context, model string, payload json.RawMessage) (*Job, error) {
	timeout := g.opts.QueueTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		op    *Operator
		s     *session
		alias string
		known bool
	)
	err := g.Wait(wctx, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		op, s, alias, known = g.pickLocked(model)
		if op != nil {
			g.consumer.inflight[op][alias]++
			g.broadcastLocked()
		}
		return op != nil || !known
	})
	switch {
	case err == nil && op == nil:
		return nil, &routeError{http.StatusNotFound, "model_not_found",
			fmt.Sprintf("model %q is not served by any connected operator (available: %s)", model, strings.Join(g.ChatModels(), ", "))}
	case err != nil && ctx.Err() == nil && wctx.Err() != nil:
		return nil, &routeError{http.StatusServiceUnavailable, "no_capacity",
			fmt.Sprintf("every node serving %q stayed at capacity for %v", model, timeout)}
	case err != nil:
		return nil, err
	}
	released := false
	release := func() { // under g.mu
		if !released {
			released = true
			g.consumer.inflight[op][alias]--
			g.broadcastLocked()
		}
	}
	job, err := op.dispatchOn(s, JobInference, payload, alias, release)
	if err != nil {
		return nil, fmt.Errorf("send to operator %s: %w", op.clientID, err)
	}
	g.log.Debug("pintest: consumer request routed", "model", model, "operator", op.clientID, "node", alias, "request_id", job.ID)
	return job, nil
}

// pickLocked chooses the least loaded node with a free slot. known reports whether any
// online operator advertises the model at all.
func (g *Gateway) pickLocked(model string) (best *Operator, bs *session, alias string, known bool) {
	bestLoad := 2.0
	for _, op := range g.opOrder {
		if !op.onlineLocked() || !slices.Contains(op.modelsLocked(), model) {
			continue
		}
		known = true
		s := op.currentLocked()
		if g.consumer.inflight[op] == nil {
			g.consumer.inflight[op] = map[string]int{}
		}
		// Nodes that list the model; if none does (a model announced by MODEL_LIST only),
		// any node of the session.
		var cands []string
		for _, a := range op.nodeOrder {
			if s.registered[a] && slices.Contains(op.nodes[a].Models, model) {
				cands = append(cands, a)
			}
		}
		if len(cands) == 0 {
			for _, a := range op.nodeOrder {
				if s.registered[a] {
					cands = append(cands, a)
				}
			}
		}
		for _, a := range cands {
			capacity := max(op.nodes[a].Capacity, 1)
			n := g.consumer.inflight[op][a]
			if n >= capacity {
				continue
			}
			if load := float64(n) / float64(capacity); load < bestLoad {
				best, bs, alias, bestLoad = op, s, a, load
			}
		}
	}
	return best, bs, alias, known
}

// forget drops a finished consumer job from the records (a long-running gateway would
// otherwise grow with every request); its usage and terminal count stay.
func (g *Gateway) forget(j *Job) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if j.result != nil {
		delete(j.sess.op.jobs, j.ID)
	}
}

// waitJob waits for the terminal answer, the end of the job's session, or ctx.
func (g *Gateway) waitJob(ctx context.Context, j *Job) (*Result, error) {
	select {
	case <-j.done:
		return j.Result(), nil
	case <-j.sess.done:
		select {
		case <-j.done:
			return j.Result(), nil
		default:
		}
		return nil, errors.New("the operator disconnected before answering")
	case <-g.closedCh:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// streamChat relays the job's chunks as OpenAI chat.completion.chunk events.
func (g *Gateway) streamChat(ctx context.Context, w http.ResponseWriter, j *Job, id string, created int64, model string, includeUsage bool) {
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	head := fmt.Sprintf(`{"id":%s,"object":"chat.completion.chunk","created":%d,"model":%s,"choices":[`, mustJSON(id), created, mustJSON(model))
	var buf []byte
	emit := func(choice string, tail string) error {
		buf = append(buf[:0], "data: "...)
		buf = append(buf, head...)
		buf = append(buf, choice...)
		buf = append(buf, ']')
		buf = append(buf, tail...)
		buf = append(buf, "}\n\n"...)
		if _, err := w.Write(buf); err != nil {
			return err
		}
		if fl != nil {
			fl.Flush()
		}
		return nil
	}
	delta := func(key, text string) error {
		return emit(`{"index":0,"delta":{`+strconv.Quote(key)+`:`+string(mustJSON(text))+`},"finish_reason":null}`, "")
	}
	if emit(`{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}`, "") != nil {
		return
	}
	var streamed bool
	next := 0
	for {
		g.mu.Lock()
		notify := j.notify
		pending := j.chunks[next:len(j.chunks):len(j.chunks)]
		res := j.result
		g.mu.Unlock()
		for _, c := range pending {
			key := "content"
			if c.Kind == KindThinking {
				key = "reasoning_content"
			}
			if delta(key, c.Delta) != nil {
				return
			}
			streamed = streamed || c.Kind != KindThinking
		}
		next += len(pending)
		if res != nil {
			g.finishStream(w, fl, emit, delta, res, streamed, includeUsage)
			return
		}
		select {
		case <-notify:
		case <-j.sess.done:
			g.mu.Lock()
			res = j.result
			g.mu.Unlock()
			if res == nil {
				streamError(w, fl, "the operator disconnected before answering")
				return
			}
		case <-g.closedCh:
			streamError(w, fl, "gateway closed")
			return
		case <-ctx.Done():
			return
		}
	}
}

func (g *Gateway) finishStream(w io.Writer, fl http.Flusher, emit func(choice, tail string) error, delta func(key, text string) error,
	res *Result, streamed, includeUsage bool) {
	if !res.OK() {
		streamError(w, fl, res.Err)
		return
	}
	var out opResult
	if err := json.Unmarshal(res.Payload, &out); err != nil || len(out.Choices) == 0 {
		streamError(w, fl, fmt.Sprintf("operator sent an unusable result: %v", err))
		return
	}
	ch := out.Choices[0]
	if !streamed && ch.Message.Content != nil && *ch.Message.Content != "" {
		// A non-streaming operator: deliver its answer as one delta.
		if delta("content", *ch.Message.Content) != nil {
			return
		}
	}
	if calls := toolCalls(ch.Message.ToolCalls, true); calls != nil {
		if emit(`{"index":0,"delta":{"tool_calls":`+string(calls)+`},"finish_reason":null}`, "") != nil {
			return
		}
	}
	reason := ch.FinishReason
	if reason == "" {
		reason = "stop"
	}
	if emit(`{"index":0,"delta":{},"finish_reason":`+string(mustJSON(reason))+`}`, "") != nil {
		return
	}
	if includeUsage {
		u := out.Usage
		if absent(u) {
			u = json.RawMessage("null")
		}
		if emit("", `,"usage":`+string(u)) != nil {
			return
		}
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
	if fl != nil {
		fl.Flush()
	}
}

// streamError ends a stream with an OpenAI error event (the SDK raises it).
func streamError(w io.Writer, fl http.Flusher, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"message": msg, "type": "upstream_error"}})
	_, _ = fmt.Fprintf(w, "data: %s\n\n", b)
	if fl != nil {
		fl.Flush()
	}
}

// opResult is the OpenAI-shaped result an operator sends (§4.3.7), read leniently.
type opResult struct {
	Choices []struct {
		Message struct {
			Content          *string         `json:"content"`
			Thinking         string          `json:"thinking"`
			ReasoningContent string          `json:"reasoning_content"`
			ToolCalls        json.RawMessage `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage json.RawMessage `json:"usage"`
	Model string          `json:"model"`
}

// toolCalls rewrites tool calls into OpenAI's shape: type "function", an id, arguments
// as a JSON string (Ollama sends an object), and for streams an index. nil if none.
func toolCalls(raw json.RawMessage, withIndex bool) json.RawMessage {
	if absent(raw) {
		return nil
	}
	var calls []map[string]json.RawMessage
	if json.Unmarshal(raw, &calls) != nil || len(calls) == 0 {
		return nil
	}
	for i, c := range calls {
		if absent(c["id"]) {
			c["id"] = mustJSON(fmt.Sprintf("call_%d", i))
		}
		c["type"] = mustJSON("function")
		var fn map[string]json.RawMessage
		if json.Unmarshal(c["function"], &fn) == nil && fn != nil {
			if a := bytes.TrimSpace(fn["arguments"]); len(a) > 0 && a[0] != '"' {
				fn["arguments"] = mustJSON(string(a))
			} else if len(a) == 0 {
				fn["arguments"] = mustJSON("{}")
			}
			c["function"] = mustJSON(fn)
		}
		if withIndex {
			c["index"] = mustJSON(i)
		}
	}
	return mustJSON(calls)
}

// completion builds a chat.completion object from an operator's result.
func completion(payload json.RawMessage, id string, created int64, model string) (any, error) {
	var r opResult
	if err := json.Unmarshal(payload, &r); err != nil || len(r.Choices) == 0 {
		return nil, fmt.Errorf("operator sent an unusable result: %v", err)
	}
	if r.Model != "" {
		model = r.Model
	}
	ch := r.Choices[0]
	msg := map[string]any{"role": "assistant", "content": ch.Message.Content}
	if ch.Message.Content == nil {
		msg["content"] = ""
	}
	if t := ch.Message.Thinking + ch.Message.ReasoningContent; t != "" {
		msg["reasoning_content"] = t
	}
	if calls := toolCalls(ch.Message.ToolCalls, false); calls != nil {
		msg["tool_calls"] = calls
		if ch.Message.Content == nil || *ch.Message.Content == "" {
			msg["content"] = nil
		}
	}
	reason := ch.FinishReason
	if reason == "" {
		reason = "stop"
	}
	out := map[string]any{"id": id, "object": "chat.completion", "created": created, "model": model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": reason}}}
	if !absent(r.Usage) {
		out["usage"] = r.Usage
	}
	return out, nil
}

func mustJSON(v any) json.RawMessage { b, _ := json.Marshal(v); return b }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// openAIError answers in OpenAI's error shape, which the SDKs turn into exceptions.
func openAIError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": code, "code": code}})
}
