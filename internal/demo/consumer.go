package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Prompt is one consumer request of the demo and the built-in backend's canned answer.
type Prompt struct {
	Text   string
	Answer string
}

// Prompts are the demo consumer's requests, sent in turn.
var Prompts = []Prompt{
	{"Write a haiku about autumn leaves.",
		"Crimson leaves let go,\ndrifting on the evening wind,\nsoft earth takes them home."},
	{"Explain what a hash table is in two sentences.",
		"A hash table stores key-value pairs in an array, using a hash function to turn each key into the index where its value lives. This makes looking up, inserting and deleting an entry take constant time on average."},
	{"Suggest three names for a small coffee shop by the sea.",
		"1. The Salty Bean\n2. Harbour Grounds\n3. Tide & Tamp\nEach hints at the sea and at coffee without being too long to fit on a sign."},
	{"Translate 'good morning' into French, Spanish and German.",
		"French: Bonjour. Spanish: Buenos días. German: Guten Morgen."},
	{"Give me a one-line summary of Romeo and Juliet.",
		"Two young lovers from feuding families in Verona marry in secret, and a chain of misunderstandings ends in both of their deaths, which finally reconciles their houses."},
	{"What are two tips for writing clear commit messages?",
		"First, write a short subject line in the imperative mood that says what the change does. Second, use the body to explain why the change was needed, not how the code works."},
}

// Round sizes: how many requests each round sends at once, in turn.
var roundSizes = []int{1, 2, 1, 3}

// DefaultInterval is the time between two rounds of consumer requests.
const DefaultInterval = 3 * time.Second

// maxOutstanding bounds requests in flight; a round is skipped while this many wait
// (a slow real model would otherwise pile them up).
const maxOutstanding = 4

// JobReport is one finished consumer request.
type JobReport struct {
	N        int    // 1, 2, … in the order sent
	Prompt   string // the request's prompt
	Model    string
	Answer   string // what came back (streamed deltas joined)
	Tokens   int    // completion tokens, as the node reported them (usage)
	Prompted int    // prompt tokens
	Took     time.Duration
	Err      error // nil when answered
}

// Stats count the demo consumer's requests.
type Stats struct {
	Sent, Answered, Failed int
	Stopped                int // cut off because the demo was stopped
	Tokens                 int // prompt + completion tokens of the answered requests
}

// Stats returns the consumer's counts so far.
func (d *Demo) Stats() Stats { d.mu.Lock(); defer d.mu.Unlock(); return d.stats }

// WaitReady blocks until the node advertises the demo model at the gateway (the engine
// connected and registered) or ctx ends.
func (d *Demo) WaitReady(ctx context.Context) error {
	return d.Gateway.Wait(ctx, func() bool { return slices.Contains(d.Gateway.ChatModels(), d.Backend.Model) })
}

// RunConsumers waits until the node is ready, then sends rounds of consumer requests
// every interval (0 → DefaultInterval) until ctx ends: round sizes 1, 2, 1, 3 in turn
// (the larger ones at once), the prompts in turn. report, if not nil, is called once
// per finished request, from the request's goroutine. It returns after every request
// it sent has finished (ctx ending cancels them).
func (d *Demo) RunConsumers(ctx context.Context, interval time.Duration, report func(JobReport)) error {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if err := d.WaitReady(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(interval)
	defer t.Stop()
	for round := 0; ; round++ {
		for range roundSizes[round%len(roundSizes)] {
			d.mu.Lock()
			busy := d.stats.Sent-d.stats.Answered-d.stats.Failed-d.stats.Stopped >= maxOutstanding
			if !busy {
				d.stats.Sent++
			}
			n := d.stats.Sent
			d.mu.Unlock()
			if busy {
				break
			}
			p := Prompts[(n-1)%len(Prompts)]
			wg.Go(func() {
				r := d.send(ctx, n, p.Text)
				d.mu.Lock()
				switch {
				case r.Err == nil:
					d.stats.Answered++
					d.stats.Tokens += r.Tokens + r.Prompted
				case ctx.Err() != nil:
					d.stats.Stopped++
				default:
					d.stats.Failed++
				}
				d.mu.Unlock()
				if report != nil && (r.Err == nil || ctx.Err() == nil) {
					report(r)
				}
			})
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// send makes one streaming OpenAI chat request to the gateway's consumer side.
func (d *Demo) send(ctx context.Context, n int, prompt string) (r JobReport) {
	r = JobReport{N: n, Prompt: prompt, Model: d.Backend.Model}
	start := time.Now()
	defer func() { r.Took = time.Since(start) }()
	body, _ := json.Marshal(map[string]any{
		"model": d.Backend.Model, "stream": true, "stream_options": map[string]bool{"include_usage": true},
		"max_tokens": 200,
		"messages":   []map[string]string{{"role": "user", "content": prompt}},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Gateway.HTTPURL()+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		r.Err = err
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.Err = fmt.Errorf("consumer request: %w", err)
		return r
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		r.Err = fmt.Errorf("gateway answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
		return r
	}
	var answer strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	done := false
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			break
		}
		var ev struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Usage *struct {
				Prompt     int `json:"prompt_tokens"`
				Completion int `json:"completion_tokens"`
			} `json:"usage"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			r.Err = fmt.Errorf("unreadable stream event: %w", err)
			return r
		}
		if ev.Error != nil {
			r.Err = errors.New(ev.Error.Message)
			return r
		}
		for _, c := range ev.Choices {
			answer.WriteString(c.Delta.Content)
		}
		if ev.Usage != nil {
			r.Prompted, r.Tokens = ev.Usage.Prompt, ev.Usage.Completion
		}
	}
	r.Answer = answer.String()
	switch {
	case sc.Err() != nil:
		r.Err = fmt.Errorf("stream: %w", sc.Err())
	case !done && ctx.Err() != nil:
		r.Err = ctx.Err()
	case !done:
		r.Err = errClosed
	}
	return r
}
