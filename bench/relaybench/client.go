package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// streamResult is one consumer stream as the client saw it. Times are durations since
// the harness epoch.
type streamResult struct {
	ID                string
	Start, First, End int64 // request sent, first content byte parsed, [DONE] parsed
	Tokens            int   // content bytes / len(tokenText)
	BackendIn         int64 // fake parsed the request (0 if unknown)
	BackendFirst      int64 // fake wrote the first token (0 if unknown)
	// Relayed streams, from the gateway's records (see annotate; 0 if unknown).
	GatewayOut   int64 // gateway sent the INFERENCE_REQUEST
	GatewayFirst int64 // gateway received the first INFERENCE_CHUNK
	// Gaps are the times between consecutive content events at the consumer.
	Gaps []time.Duration
}

func (r streamResult) ttft() time.Duration { return time.Duration(r.First - r.Start) }

// requestLeg: client send → fake has the request. responseLeg: fake wrote the first
// token → client parsed it.
func (r streamResult) requestLeg() time.Duration  { return time.Duration(r.BackendIn - r.Start) }
func (r streamResult) responseLeg() time.Duration { return time.Duration(r.First - r.BackendFirst) }

// target is one place a consumer sends chat requests: the fake itself (direct) or the
// gateway's consumer API (relayed).
type target struct {
	name string
	url  string // full /v1/chat/completions URL
	hc   *http.Client
}

func newTarget(name, base string) *target {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        2048,
		MaxIdleConnsPerHost: 2048,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &target{name: name, url: base + "/v1/chat/completions", hc: &http.Client{Transport: tr}}
}

func (t *target) close() { t.hc.CloseIdleConnections() }

var streamSeq atomic.Uint64

// stream runs one streaming chat request of n tokens and checks that exactly n tokens
// and [DONE] arrived.
func (t *target) stream(ctx context.Context, reg *registry, n int) (streamResult, error) {
	id := strconv.FormatUint(streamSeq.Add(1), 10)
	rec := reg.add(id)
	defer reg.drop(id)
	body := `{"model":"` + benchModel + `","stream":true,"max_tokens":` + strconv.Itoa(n) +
		`,"messages":[{"role":"user","content":"bench ` + id + `"}]}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(body))
	if err != nil {
		return streamResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	res := streamResult{ID: id, Start: since()}
	resp, err := t.hc.Do(req)
	if err != nil {
		return res, fmt.Errorf("%s: %w", t.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return res, fmt.Errorf("%s: HTTP %s: %s", t.name, resp.Status, bytes.TrimSpace(b))
	}
	var last int64
	res.Gaps = make([]time.Duration, 0, n)
	bytesIn, done, err := readSSE(resp.Body, func() {
		now := since()
		if res.First == 0 {
			res.First = now
		} else {
			res.Gaps = append(res.Gaps, time.Duration(now-last))
		}
		last = now
	})
	res.End = since()
	res.Tokens = bytesIn / len(tokenText)
	res.BackendIn, res.BackendFirst = rec.backendIn.Load(), rec.backendFirst.Load()
	switch {
	case err != nil:
		return res, fmt.Errorf("%s: %w", t.name, err)
	case !done:
		return res, fmt.Errorf("%s: stream ended without [DONE] after %d tokens", t.name, res.Tokens)
	case res.Tokens != n || bytesIn%len(tokenText) != 0:
		return res, fmt.Errorf("%s: %d content bytes arrived, want %d tokens (%d bytes)", t.name, bytesIn, n, n*len(tokenText))
	}
	return res, nil
}

var (
	dataPrefix     = []byte("data: ")
	contentKey     = []byte(`"content":"`)
	donePayload    = []byte("[DONE]")
	errorPayload   = []byte(`{"error"`)
	errStreamEvent = errors.New("stream error event")
)

// readSSE reads an OpenAI chat-completion SSE stream and returns the number of content
// bytes. event is called for every event that carries non-empty content, as it is
// parsed. Content is located by its key; tokens never contain quotes or escapes.
func readSSE(r io.Reader, event func()) (content int, done bool, err error) {
	br := bufio.NewReaderSize(r, 32<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return content, done, errors.New("stream line longer than 32 KiB")
		}
		if len(line) > 0 && bytes.HasPrefix(line, dataPrefix) {
			p := bytes.TrimSpace(line[len(dataPrefix):])
			switch {
			case bytes.Equal(p, donePayload):
				done = true
			case bytes.HasPrefix(p, errorPayload):
				return content, done, fmt.Errorf("%w: %s", errStreamEvent, p)
			default:
				seen := false
				for {
					i := bytes.Index(p, contentKey)
					if i < 0 {
						break
					}
					p = p[i+len(contentKey):]
					j := bytes.IndexByte(p, '"')
					if j < 0 {
						break
					}
					if j > 0 && !seen {
						seen = true
						event()
					}
					content += j
					p = p[j:]
				}
			}
		}
		if err == io.EOF {
			return content, done, nil
		}
		if err != nil {
			return content, done, err
		}
	}
}

// runConcurrent runs `streams` streams of n tokens at once (all started together) and
// returns their results in start order. The first error cancels the rest.
func runConcurrent(ctx context.Context, t *target, reg *registry, streams, n int) ([]streamResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]streamResult, streams)
	errs := make([]error, streams)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = t.stream(ctx, reg, n)
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return out, firstError(errs)
}

// runClosedLoop keeps `workers` streams in flight for d: each worker starts its next
// stream when the previous ends. Worker starts are spread over one stream period so the
// load is steady rather than a synchronised burst. Only streams started inside the
// window are kept.
func runClosedLoop(ctx context.Context, t *target, reg *registry, workers, n int, period, d time.Duration) ([]streamResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deadline := time.Now().Add(d)
	results := make([][]streamResult, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if sleepUntil(ctx, time.Now().Add(period*time.Duration(w)/time.Duration(workers))) != nil {
				return
			}
			for time.Now().Before(deadline) {
				r, err := t.stream(ctx, reg, n)
				if err != nil {
					errs[w] = err
					cancel()
					return
				}
				results[w] = append(results[w], r)
			}
		}()
	}
	wg.Wait()
	var all []streamResult
	for _, rs := range results {
		all = append(all, rs...)
	}
	return all, firstError(errs)
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
