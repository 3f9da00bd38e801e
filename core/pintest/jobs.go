package pintest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/core/protocol"
)

// Job kinds.
const (
	JobInference = "inference"
	JobTTS       = "tts"
)

// Job is one INFERENCE_REQUEST or TTS_REQUEST sent to the operator.
type Job struct {
	ID      string          // request_id
	Kind    string          // JobInference or JobTTS
	Payload json.RawMessage // as sent
	Sent    time.Time       // by Options.Now

	g    *Gateway
	sess *session      // the session the request went out on
	done chan struct{} // closed when the first terminal answer arrives
	// Guarded by g.mu.
	notify  chan struct{} // closed and replaced on every chunk and on the result
	chunks  []Chunk
	result  *Result
	late    int    // chunks that arrived after the terminal answer
	node    string // alias the consumer router chose ("" for test jobs)
	release func() // frees the node's capacity slot (consumer jobs); called once under g.mu
}

// pokeLocked wakes everything waiting on this job.
func (j *Job) pokeLocked() {
	close(j.notify)
	j.notify = make(chan struct{})
}

// releaseLocked frees the job's capacity slot, once.
func (j *Job) releaseLocked() {
	if j.release != nil {
		j.release()
		j.release = nil
	}
}

// Chunk is one INFERENCE_CHUNK as received.
type Chunk struct {
	protocol.InferenceChunk
	Time      time.Time
	Transport string
}

// Result is a job's first terminal answer.
type Result struct {
	RequestID string
	// Type: INFERENCE_RESPONSE, INFERENCE_ERROR, TTS_RESPONSE or TTS_ERROR. On WS it is
	// the frame's type; on SSE it is classified from the body: a result with "error"
	// and no "choices"/"audio_b64" is a failure.
	Type      string
	Transport string
	Time      time.Time
	// Body is the whole WS frame or SSE POST body; Payload is the result object P of §4.4
	// ({"choices",…} / {"error":…} / the TTS object), the same on both transports.
	Body    json.RawMessage
	Payload json.RawMessage
	// Err is the error text of a failure, "" on success.
	Err string
}

// OK reports whether the result is a success.
func (r *Result) OK() bool { return r.Err == "" }

// Chat decodes an inference success.
func (r *Result) Chat() (*backends.ChatResult, error) {
	if !r.OK() {
		return nil, fmt.Errorf("pintest: %s is an error: %s", r.RequestID, r.Err)
	}
	var c backends.ChatResult
	if err := json.Unmarshal(r.Payload, &c); err != nil {
		return nil, fmt.Errorf("pintest: decode chat result: %w", err)
	}
	return &c, nil
}

// Speech decodes a TTS success.
func (r *Result) Speech() (*protocol.TTSResult, error) {
	if !r.OK() {
		return nil, fmt.Errorf("pintest: %s is an error: %s", r.RequestID, r.Err)
	}
	var s protocol.TTSResult
	if err := json.Unmarshal(r.Payload, &s); err != nil {
		return nil, fmt.Errorf("pintest: decode tts result: %w", err)
	}
	return &s, nil
}

// Session is the number of the session the request was sent on (see EndedSessions).
func (j *Job) Session() int { return j.sess.id }

// Done is closed when the first terminal answer has arrived.
func (j *Job) Done() <-chan struct{} { return j.done }

// Wait blocks until the terminal answer arrives (success or error) or ctx ends.
func (j *Job) Wait(ctx context.Context) (*Result, error) {
	select {
	case <-j.done:
		return j.Result(), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("pintest: waiting for %s: %w", j.ID, ctx.Err())
	}
}

// Result is the terminal answer, or nil while none arrived.
func (j *Job) Result() *Result { j.g.mu.Lock(); defer j.g.mu.Unlock(); return j.result }

// Chunks returns the chunks received so far, in arrival order.
func (j *Job) Chunks() []Chunk {
	j.g.mu.Lock()
	defer j.g.mu.Unlock()
	return append([]Chunk(nil), j.chunks...)
}

// Text concatenates the deltas of one kind (KindContent, KindThinking) in arrival order,
// ignoring index gaps (§2.4). kind "" concatenates all.
func (j *Job) Text(kind string) string {
	var b strings.Builder
	for _, c := range j.Chunks() {
		if kind == "" || c.Kind == kind {
			b.WriteString(c.Delta)
		}
	}
	return b.String()
}

// LateChunks counts chunks that arrived after the terminal answer (should be 0).
func (j *Job) LateChunks() int { j.g.mu.Lock(); defer j.g.mu.Unlock(); return j.late }

// Stream calls fn for each chunk in arrival order as it arrives, then returns the
// terminal answer. An error from fn or ctx stops it.
func (j *Job) Stream(ctx context.Context, fn func(Chunk) error) (*Result, error) {
	next := 0
	for {
		j.g.mu.Lock()
		ch := j.notify
		pending := append([]Chunk(nil), j.chunks[next:]...)
		res := j.result
		closed := j.g.closed
		j.g.mu.Unlock()
		for _, c := range pending {
			if err := fn(c); err != nil {
				return nil, err
			}
		}
		next += len(pending)
		if res != nil {
			// Chunks recorded before the result were all delivered above.
			return res, nil
		}
		if closed {
			return nil, ErrClosed
		}
		select {
		case <-ch:
		case <-j.g.closedCh:
		case <-ctx.Done():
			return nil, fmt.Errorf("pintest: streaming %s: %w", j.ID, ctx.Err())
		}
	}
}

// Infer sends an INFERENCE_REQUEST with this payload on the current session.
func (op *Operator) Infer(ctx context.Context, p protocol.InferencePayload) (*Job, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("pintest: encode payload: %w", err)
	}
	return op.InferRaw(ctx, b)
}

// InferRaw sends an INFERENCE_REQUEST whose payload is exactly these bytes (which may be
// malformed on purpose, G4). nil sends no payload key at all.
func (op *Operator) InferRaw(ctx context.Context, payload json.RawMessage) (*Job, error) {
	return op.dispatch(ctx, JobInference, payload)
}

// TTS sends a TTS_REQUEST with this payload.
func (op *Operator) TTS(ctx context.Context, p protocol.TTSPayload) (*Job, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("pintest: encode payload: %w", err)
	}
	return op.dispatch(ctx, JobTTS, b)
}

func (op *Operator) dispatch(ctx context.Context, kind string, payload json.RawMessage) (*Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := op.current()
	if err != nil {
		return nil, err
	}
	return op.dispatchOn(s, kind, payload, "", nil)
}

// dispatchOn sends a job on session s. node and release are set by the consumer router.
func (op *Operator) dispatchOn(s *session, kind string, payload json.RawMessage, node string, release func()) (*Job, error) {
	prefix := "pin_req_"
	if kind == JobTTS {
		prefix = "tts_"
	}
	j := &Job{ID: randID(prefix, 16), Kind: kind, Payload: payload, g: op.g, sess: s, done: make(chan struct{}),
		notify: make(chan struct{}), node: node, release: release}
	op.g.mu.Lock()
	j.Sent = op.g.now()
	op.jobs[j.ID] = j
	op.g.mu.Unlock()
	var m protocol.Message
	if kind == JobTTS {
		m = &protocol.TTSRequest{RequestID: j.ID, Payload: payload}
	} else {
		m = &protocol.InferenceRequest{RequestID: j.ID, Payload: payload}
	}
	b, err := protocol.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("pintest: encode request: %w", err)
	}
	if err := s.send(b); err != nil {
		op.g.mu.Lock()
		j.releaseLocked()
		delete(op.jobs, j.ID)
		op.g.mu.Unlock()
		return nil, err
	}
	return j, nil
}

// Job returns a job sent to this operator by request_id, or nil.
func (op *Operator) Job(requestID string) *Job {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	return op.jobs[requestID]
}

// Interview is one INTERVIEW_REQUEST and its INTERVIEW_RESULT.
type Interview struct {
	Request protocol.InterviewRequest
	done    chan struct{}
	result  *protocol.InterviewResult // guarded by g.mu
	g       *Gateway
}

// Wait blocks until the INTERVIEW_RESULT arrives.
func (iv *Interview) Wait(ctx context.Context) (*protocol.InterviewResult, error) {
	select {
	case <-iv.done:
		iv.g.mu.Lock()
		defer iv.g.mu.Unlock()
		return iv.result, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("pintest: waiting for interview %s: %w", iv.Request.InterviewID, ctx.Err())
	}
}

// StartInterview sends an INTERVIEW_REQUEST (an empty InterviewID gets one). When the
// result arrives the gateway answers per Options.Grade (default INTERVIEW_COMPLETE).
func (op *Operator) StartInterview(ctx context.Context, req protocol.InterviewRequest) (*Interview, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := op.current()
	if err != nil {
		return nil, err
	}
	return op.startInterviewOn(s, req)
}

func (op *Operator) startInterviewOn(s *session, req protocol.InterviewRequest) (*Interview, error) {
	if req.InterviewID == "" {
		req.InterviewID = randID("interview_", 9)
	}
	req.Prompts = append([]protocol.Prompt(nil), req.Prompts...)
	iv := &Interview{Request: req, done: make(chan struct{}), g: op.g}
	op.g.mu.Lock()
	op.interviews[req.InterviewID] = iv
	op.g.mu.Unlock()
	if err := s.send(mustEncode(&req)); err != nil {
		return nil, err
	}
	return iv, nil
}

// Interview sends an INTERVIEW_REQUEST and waits for its INTERVIEW_RESULT.
func (op *Operator) Interview(ctx context.Context, req protocol.InterviewRequest) (*protocol.InterviewResult, error) {
	iv, err := op.StartInterview(ctx, req)
	if err != nil {
		return nil, err
	}
	return iv.Wait(ctx)
}

// InterviewByID returns an interview by id (also unsolicited results), or nil.
func (op *Operator) InterviewByID(id string) *Interview {
	op.g.mu.Lock()
	defer op.g.mu.Unlock()
	return op.interviews[id]
}

// Usage is an operator's billed totals: the terminal results' usage, never chunks.
type Usage struct {
	Requests         int // successful inference results
	Failed           int // inference and TTS errors
	PromptTokens     int
	CompletionTokens int
	TotalTokens      int
}

// Usage returns the operator's usage totals.
func (op *Operator) Usage() Usage { op.g.mu.Lock(); defer op.g.mu.Unlock(); return op.usage }

func (g *Gateway) accountLocked(op *Operator, j *Job, r *Result) {
	if !r.OK() {
		op.usage.Failed++
		return
	}
	if j.Kind != JobInference {
		return
	}
	op.usage.Requests++
	var u struct {
		Usage *backends.Usage `json:"usage"`
	}
	if json.Unmarshal(r.Payload, &u) == nil && u.Usage != nil {
		op.usage.PromptTokens += u.Usage.PromptTokens
		op.usage.CompletionTokens += u.Usage.CompletionTokens
		op.usage.TotalTokens += u.Usage.TotalTokens
	}
}
