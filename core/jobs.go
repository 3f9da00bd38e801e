package core

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/core/transport"
)

// Errors that become job answers. wireError is the one place that maps errors to the
// error text the gateway (and through it the consumer) sees.
var (
	errBusy     = errors.New("operator busy")
	errDraining = errors.New("operator is going offline; send this request to another node")
	errCanceled = errors.New("cancelled by the gateway")
	errShutdown = errors.New("operator shut down before the job finished (grace period over); retry on another node")
)

func (s *session) wireError(err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, errBusy):
		return fmt.Sprintf("operator busy: %d jobs already waiting for a free slot (limit %d); retry on another node",
			s.e.waiting.Load(), s.e.queueMax)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("backend did not finish within %s", timeout)
	case s.linkCtx.Err() != nil:
		return "gateway link lost mid-job"
	case s.jobsCtx.Err() != nil:
		return errShutdown.Error()
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// route picks the node for a model: one that advertised it, least loaded relative to
// its capacity; otherwise the first node (G1).
func (e *Engine) route(model string) *node {
	var best *node
	bestLoad := 2.0
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.nodes {
		if !n.hasModel(model) {
			continue
		}
		load := float64(e.st.Nodes[n.idx].InFlight) / float64(max(1, n.cfg.Capacity))
		if best == nil || load < bestLoad {
			best, bestLoad = n, load
		}
	}
	if best == nil {
		return e.nodes[0]
	}
	return best
}

// admit reserves a place for a job: at most Threads running plus QueueSize waiting.
// Past that it reports errBusy at once. A job admitted must call e.finished when done.
func (e *Engine) admit() error {
	if e.admitted.Add(1) > e.queueMax+int32(e.opts.Threads) {
		e.admitted.Add(-1)
		e.update(func(st *Status) { st.Rejected++ })
		return errBusy
	}
	e.waiting.Add(1)
	return nil
}

func (e *Engine) finished() { e.admitted.Add(-1) }

// acquire waits for the node's capacity slot and then a global permit (node first, so
// a job waiting on a full node never holds a global permit other nodes could use).
// It consumes the place admit reserved. release undoes it.
func (e *Engine) acquire(ctx context.Context, n *node) (release func(), err error) {
	defer e.waiting.Add(-1)
	select {
	case n.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case e.permits <- struct{}{}:
	case <-ctx.Done():
		<-n.slots
		return nil, ctx.Err()
	}
	return func() { <-e.permits; <-n.slots }, nil
}

// job is the bookkeeping shared by inference and TTS: one terminal answer per request.
type job struct {
	s       *session
	id      string
	n       *node
	ctx     context.Context
	cancel  context.CancelFunc
	timeout time.Duration
	start   time.Time
	rep     *pending // its report to Options.Observer

	answered atomic.Bool // the terminal answer went out (see answer)
	released atomic.Bool // its admission was given back (see release)
}

// newJob registers a job. Its timeout starts only when it gets its slot (hold): time
// spent in the queue is not the backend's.
func (s *session) newJob(id string, rep *pending, n *node, timeout time.Duration) *job {
	ctx, cancel := context.WithCancel(s.jobsCtx)
	s.mu.Lock()
	s.cancels[id] = cancel
	s.mu.Unlock()
	return &job{s: s, id: id, n: n, ctx: ctx, cancel: cancel, timeout: timeout, start: time.Now(), rep: rep}
}

// release gives the job's admission back, once: just before its terminal answer (the
// gateway counts the slot free when it has the answer, and may send the next job at
// once), or in done.
func (j *job) release() {
	if j.released.CompareAndSwap(false, true) {
		j.s.e.finished()
	}
}

func (j *job) done() {
	j.release()
	j.cancel()
	j.s.mu.Lock()
	delete(j.s.cancels, j.id)
	j.s.mu.Unlock()
}

// send delivers a terminal answer; if the link is gone it is lost (no resume protocol).
// An answer refused for the uplink backlog (a stalled gateway, issue 11 #6) is replaced
// by an error answer saying so, which the transport always takes.
func (s *session) send(m protocol.Message) {
	err := s.conn.Send(m)
	if errors.Is(err, transport.ErrBacklog) {
		switch r := m.(type) {
		case *protocol.InferenceResponse:
			err = s.conn.Send(&protocol.InferenceError{RequestID: r.RequestID, Error: s.wireError(err, 0)})
		case *protocol.TTSResponse:
			err = s.conn.Send(&protocol.TTSError{RequestID: r.RequestID, Error: s.wireError(err, 0)})
		}
	}
	if err != nil {
		s.log.Warn("answer lost", "type", m.MsgType(), "err", err)
	}
}

// uplinkPosts sizes the SSE uplink's parallel POSTs: one per job that can stream at
// once (-n, and no more than the nodes' capacities), plus two for refusals and
// interviews; the transport caps it.
func (e *Engine) uplinkPosts() int {
	capacity := 0
	for _, n := range e.nodes {
		capacity += max(1, n.cfg.Capacity)
	}
	return min(e.opts.Threads, capacity) + 2
}

// intake counts a job and builds the function that answers it with an error (and reports
// it to the observer). ok is false for a job without a request_id: there is nothing to
// answer it with (nor to report). rep is the job's report; callers add its node.
func (s *session) intake(kind, id string, answer func(id, text string) protocol.Message) (num uint64, rep *pending, fail func(error), ok bool) {
	num = s.e.requests.Add(1)
	if id == "" {
		s.log.Warn("job without request_id cannot be answered; ignored", "tag", "inference", "kind", kind)
		return num, nil, nil, false
	}
	rep = newPending(KindTTS, id)
	if kind == "inference" {
		rep.Kind = KindChat
	}
	return num, rep, func(err error) {
		s.log.Warn("job refused", "tag", "inference", "kind", kind, "n", num, "request_id", id, "err", err)
		text := s.wireError(err, 0)
		s.observe(rep, err, text) // before the answer: see Observer
		s.send(answer(id, text))
	}, true
}

// launch admits a job (not while draining; within the queue bound) and runs it on its
// own goroutine, or answers it with fail.
func (s *session) launch(id string, rep *pending, n *node, timeout time.Duration, fail func(error), run func(*job)) {
	if s.draining.Load() {
		fail(errDraining)
		return
	}
	if err := s.e.admit(); err != nil {
		fail(err)
		return
	}
	j := s.newJob(id, rep, n, timeout)
	s.jobs.Add(1)
	go func() {
		defer s.jobs.Done()
		defer j.done()
		defer s.recoverJob(j, fail)
		run(j)
	}()
}

// recoverJob turns a panic in a job (a bug, in an adapter say) into that job's error
// answer and a logged stack, instead of a crashed daemon and lost requests.
func (s *session) recoverJob(j *job, fail func(error)) {
	if r := recover(); r != nil {
		s.log.Error("job crashed; please report this bug", "request_id", j.id, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		err := errors.New("internal error in pin-client while running the job")
		if j.answered.CompareAndSwap(false, true) {
			fail(err)
		}
		s.observe(j.rep, err, err.Error()) // no-op when fail or the job reported already
	}
}

// answer sends the job's terminal answer, once: every request_id gets exactly one.
func (j *job) answer(m protocol.Message) {
	if j.answered.CompareAndSwap(false, true) {
		j.release()
		j.s.send(m)
	}
}

func (s *session) startInference(m *protocol.InferenceRequest) {
	num, rep, fail, ok := s.intake("inference", m.RequestID, func(id, text string) protocol.Message {
		return &protocol.InferenceError{RequestID: id, Error: text}
	})
	if !ok {
		return
	}
	p, err := parseInference(m.Payload)
	if err != nil {
		fail(err)
		return
	}
	n := s.e.route(p.Model)
	rep.setNode(n, p.Model)
	timeout := chatTimeout
	if p.Stream {
		timeout = streamTimeout
	}
	s.log.Debug("job queued", "tag", "inference", "n", num, "request_id", m.RequestID, "model", p.Model, "node", n.cfg.Alias, "stream", p.Stream)
	run := func(j *job) { j.runInference(num, p) }
	if len(m.Payload) >= bigPayload {
		run = func(j *job) {
			defer memRelease.request()
			j.runInference(num, p)
		}
	}
	s.launch(m.RequestID, rep, n, timeout, fail, run)
}

func parseInference(raw json.RawMessage) (*protocol.InferencePayload, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("invalid INFERENCE_REQUEST: payload missing or not a JSON object")
	}
	var p protocol.InferencePayload
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("invalid INFERENCE_REQUEST payload: %v", err)
	}
	if p.Model == "" {
		return nil, errors.New("invalid INFERENCE_REQUEST payload: model is empty")
	}
	if t := firstByte(p.Messages); t != '[' {
		return nil, errors.New("invalid INFERENCE_REQUEST payload: messages must be a JSON array")
	}
	return &p, nil
}

func firstByte(b []byte) byte {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
	}
	return 0
}

// hold waits for the job's slots, runs work while the job counts as in flight, and
// gives everything back however work ends (a panic included).
func (j *job) hold(work func() error) error {
	e, n := j.s.e, j.n
	release, err := e.acquire(j.ctx, n)
	if err != nil {
		return err
	}
	defer release()
	// The backend deadline starts now. j.ctx is replaced on the job's own goroutine;
	// the new cancel runs in done with the old one (which CANCEL_REQUEST still uses).
	ctx, stop := context.WithTimeout(j.ctx, j.timeout)
	cancel := j.cancel
	j.ctx, j.cancel = ctx, func() { stop(); cancel() }
	e.updateNode(n.idx, func(ns *NodeStatus) { ns.InFlight++ })
	defer e.updateNode(n.idx, func(ns *NodeStatus) { ns.InFlight-- })
	return work()
}

func (j *job) runInference(num uint64, p *protocol.InferencePayload) {
	s, n := j.s, j.n
	req := &backends.ChatRequest{
		Model: p.Model, Messages: p.Messages, Temperature: p.Temperature, MaxTokens: p.MaxTokens,
		Tools: p.Tools, ToolChoice: p.ToolChoice,
	}
	var res *backends.ChatResult
	err := j.hold(func() (err error) {
		if !p.Stream {
			res, err = n.backend.Chat(j.ctx, req)
			return err
		}
		idx := 0
		res, err = n.backend.ChatStream(j.ctx, req, func(d backends.Delta) error {
			if idx == 0 {
				j.rep.TTFT = time.Since(j.rep.start)
			}
			err := s.conn.Send(&protocol.InferenceChunk{RequestID: j.id, Index: idx, Delta: d.Text, Kind: string(d.Kind)})
			idx++
			return err // a closed link aborts generation (L17)
		})
		return err
	})
	j.finishInference(num, res, err)
}

func (j *job) finishInference(num uint64, res *backends.ChatResult, err error) {
	s := j.s
	var body []byte
	if err == nil {
		body, err = json.Marshal(res)
	}
	var usage backends.Usage
	if err == nil && res.Usage != nil {
		usage = *res.Usage
	}
	j.account(usage, err) // before the answer, so a status read after it includes this job
	took := time.Since(j.start).Round(time.Millisecond)
	if err != nil {
		if j.ctx.Err() == context.Canceled && j.s.jobsCtx.Err() == nil {
			err = errCanceled
		}
		text := s.wireError(err, j.timeout)
		s.observe(j.rep, err, text)
		j.answer(&protocol.InferenceError{RequestID: j.id, Error: text})
		s.log.Warn("job failed", "tag", "inference", "n", num, "request_id", j.id, "node", j.n.cfg.Alias, "took", took, "err", err)
		return
	}
	j.rep.PromptTokens, j.rep.CompletionTokens = max(0, usage.PromptTokens), max(0, usage.CompletionTokens)
	s.observe(j.rep, nil, "")
	j.answer(&protocol.InferenceResponse{RequestID: j.id, Result: body})
	if res.Incomplete {
		s.log.Warn("backend stream ended without its done frame; the answer may be truncated", "tag", "inference", "n", num, "request_id", j.id)
	}
	s.log.Info("job done", "tag", "inference", "n", num, "request_id", j.id, "model", res.Model, "node", j.n.cfg.Alias, "took", took,
		"prompt_tokens", usage.PromptTokens, "completion_tokens", usage.CompletionTokens)
}

// account adds a finished job to its node's totals.
func (j *job) account(u backends.Usage, err error) {
	price := j.n.cfg.Price()
	j.s.e.updateNode(j.n.idx, func(ns *NodeStatus) {
		if err != nil {
			ns.Failed++
			return
		}
		ns.Served++
		ns.PromptTokens += uint64(max(0, u.PromptTokens))
		ns.CompletionTokens += uint64(max(0, u.CompletionTokens))
		ns.Earnings += float64(max(0, u.PromptTokens)+max(0, u.CompletionTokens)) / 1000 * price
	})
}

// ---- TTS (§9) ----

func (s *session) startTTS(m *protocol.TTSRequest) {
	num, rep, fail, ok := s.intake("tts", m.RequestID, func(id, text string) protocol.Message {
		return &protocol.TTSError{RequestID: id, Error: text}
	})
	if !ok {
		return
	}
	var p protocol.TTSPayload
	if len(m.Payload) == 0 || json.Unmarshal(m.Payload, &p) != nil || firstByte(m.Payload) != '{' {
		fail(errors.New("invalid TTS_REQUEST payload: expected an object with model and input"))
		return
	}
	n := s.e.routeTTS(p.Model)
	if n == nil {
		fail(errors.New("no TTS backend configured on this operator"))
		return
	}
	rep.setNode(n, p.Model)
	if p.Voice == "" {
		p.Voice = "default"
	}
	if p.ResponseFormat == "" {
		p.ResponseFormat = "mp3"
	}
	s.log.Debug("tts queued", "tag", "inference", "n", num, "request_id", m.RequestID, "model", p.Model, "node", n.cfg.Alias)
	s.launch(m.RequestID, rep, n, ttsTimeout, fail, func(j *job) { j.runTTS(num, &p) })
}

// routeTTS: a node whose ttsModels lists the model, else the first node with a ttsUri.
func (e *Engine) routeTTS(model string) *node {
	var first *node
	for _, n := range e.nodes {
		if n.speaker == nil {
			continue
		}
		for _, m := range n.cfg.TTSModels {
			if m == model {
				return n
			}
		}
		if first == nil {
			first = n
		}
	}
	return first
}

func (j *job) runTTS(num uint64, p *protocol.TTSPayload) {
	s, n := j.s, j.n
	var sp *backends.Speech
	err := j.hold(func() (err error) {
		sp, err = n.speaker.Speech(j.ctx, &backends.SpeechRequest{
			Model: p.Model, Input: p.Input, Voice: p.Voice, ResponseFormat: p.ResponseFormat, Speed: p.Speed,
		})
		return err
	})
	if err == nil && len(sp.Audio) == 0 {
		err = errors.New("TTS backend returned no audio")
	}
	j.account(backends.Usage{}, err)
	if err != nil {
		text := s.wireError(err, j.timeout)
		s.observe(j.rep, err, text)
		j.answer(&protocol.TTSError{RequestID: j.id, Error: text})
		s.log.Warn("tts failed", "tag", "inference", "n", num, "request_id", j.id, "err", err)
		return
	}
	ct := sp.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	s.observe(j.rep, nil, "")
	j.answer(&protocol.TTSResponse{RequestID: j.id, Result: protocol.TTSResult{
		Model: p.Model, Voice: p.Voice, Format: p.ResponseFormat, ContentType: ct,
		Bytes: len(sp.Audio), AudioB64: base64.StdEncoding.EncodeToString(sp.Audio),
	}})
	s.log.Info("tts done", "tag", "inference", "n", num, "request_id", j.id, "bytes", len(sp.Audio), "took", time.Since(j.start).Round(time.Millisecond))
}
