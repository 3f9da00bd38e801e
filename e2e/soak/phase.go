package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
)

// The daemon's admission limits in the soak: -n threads, -queue, and each node's capacity.
const (
	threads  = 4
	queue    = 4
	capacity = 3
	workers  = 6 // closed-loop load generators
)

// Models the fakes serve.
const (
	chatModel = "local-model" // n1 (OpenAI-compatible)
	ollModel  = "llama3:8b"   // n2 (Ollama)
	ttsModel  = "chatterbox-turbo"
)

// phase is one transport's soak.
type phase struct {
	opts      options
	transport string
	dur       time.Duration
	restarts  int
	seed      uint64
	dir, bin  string

	secret string
	gws    *gatewayServer
	gw     *pintest.Gateway
	be     *fakes
	d      *daemon

	mu     sync.Mutex // guards jobs, ivs, counts, rereg, burstLat
	jobs   []*tracked
	ivs    []*trackedInterview
	counts map[string]int // faults injected and jobs dispatched, by name
	rereg  []time.Duration
	missed []string // restarts not followed by re-registration in time
	burst  []time.Duration
	died   string // why the daemon is gone before SIGTERM ("" while it runs)
}

// tracked is one job the soak sent.
type tracked struct {
	job   *pintest.Job
	kind  string // stream, plain, tools, tts, burst, malformed, oversized, sigterm
	mode  string // backend behaviour
	start time.Time
}

type trackedInterview struct {
	id      string
	session int
}

func (p *phase) count(name string, n int) {
	p.mu.Lock()
	p.counts[name] += n
	p.mu.Unlock()
}

// run runs the phase and returns the violated invariants.
func (p *phase) run(ctx context.Context) ([]string, error) {
	p.counts = map[string]int{}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, err
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	p.secret = "pin_sk_soak" + hex.EncodeToString(b)
	p.gw = pintest.NewGateway(pintest.Options{ClientID: "op_soak", Secret: p.secret, MaxFrames: 20000})
	var err error
	if p.gws, err = newGatewayServer(p.gw); err != nil {
		return nil, err
	}
	defer p.gws.close()
	p.be = startFakes()
	defer p.be.close()

	cfgPath, err := p.writeConfig()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(p.dir, "pin-clientd.log")
	p.d, err = startDaemon(p.bin, p.dir, p.secret, []string{"-c", cfgPath, "-l", "trace",
		"-n", fmt.Sprint(threads), "-queue", fmt.Sprint(queue), "-grace", p.opts.grace.String()}, logPath)
	if err != nil {
		return nil, err
	}
	defer p.d.kill()
	fmt.Printf("\n== %s: %v of load, %d restarts, daemon pid %d, log %s\n", p.transport, p.dur, p.restarts, p.d.pid(), logPath)

	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = p.gw.WaitNodes(wctx, 2)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("the daemon did not register its 2 nodes within 30 s (see %s): %w", logPath, err)
	}

	// Load and faults for dur.
	smp := startSampler(p.d.pid(), time.Second)
	lctx, stopLoad := context.WithTimeout(ctx, p.dur)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { p.worker(lctx, mrand.New(mrand.NewPCG(p.seed, uint64(100+i)))) })
	}
	wg.Go(func() { p.faults(lctx, mrand.New(mrand.NewPCG(p.seed, 1))) })
	var restartErr error
	wg.Go(func() { restartErr = p.restartLoop(lctx, mrand.New(mrand.NewPCG(p.seed, 2))) })
	wg.Go(func() { p.housekeep(lctx) })
	if p.opts.on("interview") {
		wg.Go(func() { p.interviews(lctx) })
	}
	// Two 8 MiB frames early in the warm-up: the runtime keeps the memory it took, so the
	// window after warm-up already holds that high-water mark, like the end does.
	wg.Go(func() {
		if !p.opts.on("oversized") {
			return
		}
		for _, wait := range []time.Duration{3 * time.Second, 7 * time.Second} { // at 3 s and 10 s
			select {
			case <-time.After(wait):
				p.oversized(lctx)
			case <-lctx.Done():
				return
			}
		}
	})
	wg.Wait()
	stopLoad()
	samples := smp.finish()
	if restartErr != nil {
		return nil, restartErr
	}
	if ctx.Err() != nil {
		return nil, errors.New("interrupted")
	}

	// Settle: every job is answered or its link has ended.
	settled := p.settle(ctx, 90*time.Second)
	acct := p.account() // before SIGTERM ends every session

	// SIGTERM with jobs in flight.
	st := p.sigterm(ctx)

	out, err := scanOutput(logPath, p.secret)
	if err != nil {
		return nil, fmt.Errorf("read the daemon's output: %w", err)
	}
	return p.report(acct, samples, settled, st, out), nil
}

func (p *phase) writeConfig() (string, error) {
	price := 0.001
	c := config.Config{ClientID: "op_soak", ServerURL: p.gw.URL(), Transport: p.transport, ReconnectDelaySecs: 1,
		Nodes: []config.Node{
			{Alias: "n1", InferenceURI: p.be.chat.URL, APIMode: config.APIModeOpenAI, Region: "global",
				Capacity: capacity, PricePerThousandTokens: &price, TTSURI: p.be.tts.URL, TTSModels: []string{ttsModel}},
			{Alias: "n2", InferenceURI: p.be.oll.URL, APIMode: "ollama", Region: "global",
				Capacity: capacity, PricePerThousandTokens: &price},
		}}
	if err := c.Validate(); err != nil {
		return "", fmt.Errorf("soak config: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(p.dir, "config.json")
	return path, os.WriteFile(path, b, 0o600)
}

// housekeep keeps the harness's own memory bounded (the fakes record every request)
// and notices a daemon that exited.
func (p *phase) housekeep(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.be.reset()
			if !p.d.alive() {
				p.mu.Lock()
				if p.died == "" {
					p.died = fmt.Sprintf("pin-clientd exited during the load (%v)", p.d.err)
				}
				p.mu.Unlock()
				return
			}
		}
	}
}

// dispatch sends one job, waiting (bounded) for a session when the link is down. nil
// when no session came within 20 s or ctx ended.
func (p *phase) dispatch(ctx context.Context, kind, mode string, send func() (*pintest.Job, error)) *tracked {
	for ctx.Err() == nil {
		j, err := send()
		if err == nil {
			t := &tracked{job: j, kind: kind, mode: mode, start: time.Now()}
			p.mu.Lock()
			p.jobs = append(p.jobs, t)
			p.counts["job "+kind]++
			p.mu.Unlock()
			return t
		}
		if !errors.Is(err, pintest.ErrNotConnected) {
			p.count("dispatch error", 1)
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err = p.gw.Wait(wctx, p.gw.Connected)
		cancel()
		if err != nil {
			return nil
		}
	}
	return nil
}

func messages(text string) json.RawMessage {
	b, _ := json.Marshal([]map[string]string{{"role": "user", "content": text}})
	return b
}

// chatJob sends an inference job asking the backend for mode.
func (p *phase) chatJob(ctx context.Context, r *mrand.Rand, kind, mode string, tokens int, hold time.Duration) *tracked {
	model := chatModel
	if r.IntN(2) == 1 {
		model = ollModel
	}
	pl := protocol.InferencePayload{Model: model, Messages: messages(soakPrompt(mode, tokens, hold)), Stream: kind != "plain"}
	if kind == "tools" {
		pl.Tools = json.RawMessage(`[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`)
	}
	return p.dispatch(ctx, kind, mode, func() (*pintest.Job, error) { return p.gw.Infer(context.Background(), pl) })
}

// worker is one closed-loop consumer: a job, its answer (or its link's end), a pause.
func (p *phase) worker(ctx context.Context, r *mrand.Rand) {
	for ctx.Err() == nil {
		var t *tracked
		mode := modeOK
		switch x := r.IntN(100); {
		case x < 5:
			mode = modeAbort
		case x < 10:
			mode = modeE500
		case x < 13:
			mode = modeHang
		}
		if !p.opts.on("backend") {
			mode = modeOK
		}
		tokens := 5 + r.IntN(40)
		hold := time.Duration(2000+r.IntN(8000)) * time.Millisecond
		switch x := r.IntN(100); {
		case x < 45:
			t = p.chatJob(ctx, r, "stream", mode, tokens, hold)
		case x < 70:
			t = p.chatJob(ctx, r, "plain", mode, tokens, hold)
		case x < 85:
			if mode == modeOK {
				mode = modeTools
			}
			t = p.chatJob(ctx, r, "tools", mode, tokens, hold)
		default:
			pl := protocol.TTSPayload{Model: ttsModel, Input: "soak speech", Voice: "default", ResponseFormat: "mp3"}
			t = p.dispatch(ctx, "tts", "", func() (*pintest.Job, error) { return p.gw.TTS(context.Background(), pl) })
		}
		if t != nil {
			p.await(ctx, t, 60*time.Second)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(r.IntN(200)) * time.Millisecond):
		}
	}
}

// await blocks until the job is answered, or 3 s after its session ended, or limit.
func (p *phase) await(ctx context.Context, t *tracked, limit time.Duration) {
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	_ = p.gw.Wait(wctx, func() bool {
		if t.job.Result() != nil {
			return true
		}
		ended, _, _ := p.gw.SessionEnded(t.job.Session())
		return ended
	})
	if t.job.Result() == nil && wctx.Err() == nil {
		// The session ended: a late answer gets 3 s.
		select {
		case <-t.job.Done():
		case <-time.After(3 * time.Second):
		case <-ctx.Done():
		}
	}
}

// faults injects one random fault after another (not restarts: restartLoop).
func (p *phase) faults(ctx context.Context, r *mrand.Rand) {
	var wg sync.WaitGroup
	defer wg.Wait()
	hbBusy := false
	var hbMu sync.Mutex
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(1500+r.IntN(3000)) * time.Millisecond):
		}
		x := r.IntN(100)
		if !p.opts.on(faultKind(x)) {
			continue
		}
		switch {
		case x < 30: // link reset mid-stream
			if p.gw.DropLink() == nil {
				p.count("fault link reset", 1)
			}
		case x < 42: // gateway POSTs (and WS heartbeats) stalled for seconds
			d := time.Duration(2000+r.IntN(3000)) * time.Millisecond
			span := d + time.Duration(r.IntN(3000))*time.Millisecond
			p.gw.SetAcceptDelay(d)
			p.count("fault stall", 1)
			wg.Go(func() {
				select {
				case <-time.After(span):
				case <-ctx.Done():
				}
				p.gw.SetAcceptDelay(0)
			})
		case x < 50: // one heartbeat answered 502 (SSE heartbeats are POSTs)
			if p.transport != "sse" {
				continue
			}
			hbMu.Lock()
			busy := hbBusy
			hbBusy = true
			hbMu.Unlock()
			if busy {
				continue
			}
			p.count("fault heartbeat 502", 1)
			wg.Go(func() {
				p.heartbeat502(ctx)
				hbMu.Lock()
				hbBusy = false
				hbMu.Unlock()
			})
		case x < 64: // a burst beyond the queue
			n := threads + queue + 4 + r.IntN(6)
			p.count("fault burst", 1)
			for range n {
				t := p.chatJob(ctx, r, "burst", modeOK, 20+r.IntN(20), 0)
				if t != nil {
					wg.Go(func() {
						p.await(ctx, t, 60*time.Second)
						if res := t.job.Result(); res != nil && strings.Contains(res.Err, "busy") {
							p.mu.Lock()
							p.burst = append(p.burst, res.Time.Sub(t.start))
							p.mu.Unlock()
						}
					})
				}
			}
		case x < 78: // malformed frames: garbage, and a job whose payload has wrong types
			p.count("fault malformed", 1)
			garbage := []byte("{\"type\":\"INFERENCE_REQUEST\",\"request_id\":")
			if p.transport == "sse" {
				garbage = []byte("data: {\"type\":\"INFERENCE_REQ\x00UEST\"\n\ndata: not json at all\n\n")
			}
			_ = p.gw.SendRaw(garbage)
			p.dispatch(ctx, "malformed", "", func() (*pintest.Job, error) {
				return p.gw.InferRaw(context.Background(), json.RawMessage(`{"model":7,"messages":"not a list","stream":"yes"}`))
			})
		case x < 83: // an 8 MiB frame
			p.oversized(ctx)
		case x < 90: // TTS backend answers 500 for a while
			p.count("fault tts 500", 1)
			span := time.Duration(1000+r.IntN(3000)) * time.Millisecond
			p.be.tts.Fail("/v1/audio/speech", 500, "")
			wg.Go(func() {
				select {
				case <-time.After(span):
				case <-ctx.Done():
				}
				p.be.tts.Fail("/v1/audio/speech", 0, "")
			})
		default: // another link reset
			if p.gw.DropLink() == nil {
				p.count("fault link reset", 1)
			}
		}
	}
}

// oversized sends a job in an 8 MiB frame.
func (p *phase) oversized(ctx context.Context) {
	p.count("fault oversized", 1)
	big := strings.Repeat("x", 8<<20)
	pl := protocol.InferencePayload{Model: chatModel, Messages: messages(big), Stream: true}
	p.dispatch(ctx, "oversized", "", func() (*pintest.Job, error) { return p.gw.Infer(context.Background(), pl) })
}

// faultKind names the -faults kind of a fault draw x in [0,100) of the faults loop.
func faultKind(x int) string {
	switch {
	case x < 30, x >= 90:
		return "reset"
	case x < 42:
		return "stall"
	case x < 50:
		return "hb502"
	case x < 64:
		return "burst"
	case x < 78:
		return "malformed"
	case x < 83:
		return "oversized"
	default:
		return "tts500"
	}
}

// heartbeat502 makes SSE heartbeats answer 502 until one did (at most 45 s).
func (p *phase) heartbeat502(ctx context.Context) {
	before := p.failedHeartbeats()
	p.gw.FailHeartbeats(502)
	defer p.gw.FailHeartbeats(0)
	wctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	_ = p.gw.Wait(wctx, func() bool { return p.failedHeartbeats() > before })
}

func (p *phase) failedHeartbeats() int {
	n := 0
	for _, f := range p.gw.FramesOf("HEARTBEAT") {
		if f.Status == 502 {
			n++
		}
	}
	return n
}

// interviews sends an interview every 10–20 s while the link is up.
func (p *phase) interviews(ctx context.Context) {
	r := mrand.New(mrand.NewPCG(p.seed, 4))
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(10000+r.IntN(10000)) * time.Millisecond):
			p.interview()
		}
	}
}

// interview sends an INTERVIEW_REQUEST to n2 with timeout_ms and max_tokens as
// integral floats (60000.0, 16.0), which the gateway's encoder may produce.
func (p *phase) interview() {
	n, ok := p.gw.Node("n2")
	sess := p.gw.SessionID()
	if !ok || sess == 0 {
		return
	}
	id := fmt.Sprintf("interview_soak_%d", time.Now().UnixNano())
	raw := fmt.Sprintf(`{"type":"INTERVIEW_REQUEST","interview_id":%q,"node_id":%q,"model":%q,"timeout_ms":60000.0,`+
		`"prompts":[{"id":"p1","prompt":"Say hi.","max_tokens":16.0},{"id":"p2","prompt":"Count to 3.","max_tokens":16.0}]}`,
		id, n.ID, ollModel)
	var frame []byte
	if p.transport == "sse" {
		frame = []byte("data: " + raw + "\n\n")
	} else {
		frame = []byte(raw)
	}
	if p.gw.SendRaw(frame) != nil || p.gw.SessionID() != sess {
		return // the link changed under us: not a clean sample
	}
	p.count("interview", 1)
	p.mu.Lock()
	p.ivs = append(p.ivs, &trackedInterview{id: id, session: sess})
	p.mu.Unlock()
}

// restartLoop restarts the gateway p.restarts times on a seeded schedule (one per
// dur/(restarts+1), jittered by a quarter of that) and measures each re-registration
// (every node's REGISTER_NODE after the new listener). The next restart waits for it,
// at most -rereg-max: a restart not followed by re-registration within -rereg-max is
// a violation, and restarts that no longer fit in the load time are too.
func (p *phase) restartLoop(ctx context.Context, r *mrand.Rand) error {
	if p.restarts == 0 {
		return nil
	}
	period := p.dur / time.Duration(p.restarts+1)
	t0 := time.Now()
	for i := 0; i < p.restarts; i++ {
		planned := t0.Add(time.Duration(i+1)*period + time.Duration(r.Int64N(int64(period)/2)) - period/4)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(planned)):
		}
		down := time.Duration(100+r.IntN(900)) * time.Millisecond
		w, err := p.gws.restart(ctx, down)
		if err != nil {
			return err
		}
		p.count("fault restart", 1)
		took, ok := p.waitRereg(ctx, w.up, w.up.Add(p.opts.rereg))
		p.mu.Lock()
		if ok {
			p.rereg = append(p.rereg, took)
		} else {
			p.missed = append(p.missed, fmt.Sprintf("restart %d: nodes not registered again within %v", i+1, p.opts.rereg))
		}
		p.mu.Unlock()
	}
	return nil
}

// waitRereg waits until both nodes registered after up; it returns how long after up.
func (p *phase) waitRereg(ctx context.Context, up, deadline time.Time) (time.Duration, bool) {
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var last time.Time
	done := func() bool {
		seen := map[string]time.Time{}
		for _, a := range p.gw.Adverts() {
			if a.Source == "REGISTER_NODE" && !a.Time.Before(up) {
				if _, ok := seen[a.Alias]; !ok {
					seen[a.Alias] = a.Time
				}
			}
		}
		if len(seen) < 2 {
			return false
		}
		last = seen["n1"]
		if seen["n2"].After(last) {
			last = seen["n2"]
		}
		return true
	}
	if p.gw.Wait(wctx, done) != nil {
		return 0, false
	}
	return last.Sub(up), true
}

// settled is the state after the load stopped and the stragglers were given time.
type settled struct {
	took    time.Duration
	pending int // jobs neither answered nor on an ended link when time ran out
}

func (p *phase) settle(ctx context.Context, limit time.Duration) settled {
	start := time.Now()
	p.mu.Lock()
	jobs := slices.Clone(p.jobs)
	p.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	open := func() int {
		n := 0
		for _, t := range jobs {
			if t.job.Result() == nil {
				if ended, _, _ := p.gw.SessionEnded(t.job.Session()); !ended {
					n++
				}
			}
		}
		return n
	}
	_ = p.gw.Wait(wctx, func() bool { return open() == 0 })
	// Results that race a link's end get a moment too.
	time.Sleep(2 * time.Second)
	return settled{took: time.Since(start), pending: open()}
}

// sigtermResult is what happened on SIGTERM with jobs in flight.
type sigtermResult struct {
	ok         bool // jobs were in flight when the signal went
	inFlight   int
	answered   int
	duplicates int
	took       time.Duration
	code       int
	killed     bool
	note       string
}

// sigterm waits for a live link, starts jobs that outlast the grace period and some
// that finish inside it, sends SIGTERM and checks the exit and every answer.
func (p *phase) sigterm(ctx context.Context) sigtermResult {
	var res sigtermResult
	// The daemon may be deep in its reconnect backoff (capped at 5 minutes).
	wctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
	defer cancel()
	start := time.Now()
	// Connected and both nodes registered on this session: the daemon refuses jobs for
	// nodes it has not registered yet.
	ready := func() bool {
		sid, n := p.gw.SessionID(), 0
		for _, a := range p.gw.Adverts() {
			if a.Source == "REGISTER_NODE" && a.Session == sid && sid != 0 {
				n++
			}
		}
		return n >= 2
	}
	if err := p.gw.Wait(wctx, ready); err != nil {
		res.note = "no session with both nodes registered within 6 minutes"
		return res
	}
	if d := time.Since(start); d > time.Second {
		res.note = fmt.Sprintf("waited %v for a session", d.Round(time.Second))
	}
	p.gw.SetAcceptDelay(0)
	p.gw.FailHeartbeats(0)
	r := mrand.New(mrand.NewPCG(p.seed, 3))
	var ts []*tracked
	for i := range threads {
		mode, hold := modeOK, time.Duration(0)
		tokens := int(p.opts.grace/tokenDelay) / 2 // finishes inside the grace period
		if i%2 == 1 {
			mode, hold = modeHang, p.opts.grace*4 // outlasts it
		}
		if t := p.chatJob(wctx, r, "sigterm", mode, tokens, hold); t != nil {
			ts = append(ts, t)
		}
	}
	// Every job is at its backend (the hung ones hold their request open). The fakes'
	// counters are not gateway state, so this one wait polls.
	for deadline := time.Now().Add(30 * time.Second); p.be.inFlight() < len(ts); {
		if time.Now().After(deadline) {
			res.note = strings.TrimPrefix(res.note+"; only "+fmt.Sprint(p.be.inFlight())+" jobs reached the backends", "; ")
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !p.d.alive() {
		res.note = "pin-clientd had already exited"
		return res
	}
	res.ok, res.inFlight = true, len(ts)
	sent := time.Now()
	res.took, res.code, res.killed = p.d.terminate(p.opts.grace + 15*time.Second)
	// The link is gone with the process; answers already received are all there is.
	for _, t := range ts {
		if r := t.job.Result(); r != nil && !r.OK() && r.Time.Before(sent) {
			res.note = strings.TrimPrefix(res.note+"; answered before SIGTERM: "+r.Err, "; ")
		}
		switch p.gw.Terminals(t.job.ID) {
		case 1:
			res.answered++
		case 0:
		default:
			res.duplicates++
		}
	}
	return res
}
