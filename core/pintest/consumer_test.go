package pintest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pin-client/pin-client/core/protocol"
)

// operatorBot answers INFERENCE_REQUESTs like a daemon would: when stream is true, two
// thinking and two content chunks (index gaps included), then the result. With tools in
// the payload it answers an Ollama-style tool call (arguments as an object). hold, if
// not nil, must deliver a value before each answer.
func operatorBot(c client, hold <-chan struct{}) <-chan *protocol.InferenceRequest {
	seen := make(chan *protocol.InferenceRequest, 64)
	go func() {
		for {
			var e event
			select {
			case e = <-c.evs():
			case <-c.doneCh():
				return
			}
			req, ok := e.msg.(*protocol.InferenceRequest)
			if !ok {
				continue
			}
			seen <- req
			if hold != nil {
				select {
				case <-hold:
				case <-c.doneCh():
					return
				}
			}
			var p protocol.InferencePayload
			if json.Unmarshal(req.Payload, &p) != nil {
				_ = c.trySend(&protocol.InferenceError{RequestID: req.RequestID, Error: "bad payload"})
				continue
			}
			if p.Stream {
				for i, ch := range []struct{ d, k string }{{"hm", KindThinking}, {"m", KindThinking}, {"Hel", KindContent}, {"lo ✓", KindContent}} {
					_ = c.trySend(&protocol.InferenceChunk{RequestID: req.RequestID, Index: i * 2, Delta: ch.d, Kind: ch.k})
				}
			}
			msg := `{"role":"assistant","content":"Hello ✓","thinking":"hmm"}`
			reason := "stop"
			if p.Tools != nil {
				msg = `{"role":"assistant","content":"","tool_calls":[{"function":{"name":"declare_role","arguments":{"role":"hiring"}}}]}`
				reason = "tool_calls"
			}
			res := `{"choices":[{"index":0,"message":` + msg + `,"finish_reason":"` + reason + `"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5},"model":"` + p.Model + `"}`
			_ = c.trySend(&protocol.InferenceResponse{RequestID: req.RequestID, Result: json.RawMessage(res)})
		}
	}()
	return seen
}

func postChat(t *testing.T, gw *Gateway, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(testCtx(t), http.MethodPost, gw.HTTPURL()+ChatPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.Bytes()
}

// sseData splits an OpenAI stream into its data payloads.
func sseData(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestConsumerRoutingBothTransports(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			gw := New(t, Options{MoreOperators: []Credentials{{"op_two", "pin_sk_two"}}})
			ctx := testCtx(t)
			one := connect(t, gw, tr)
			register(t, one, "A", "llama3:8b", "tts:chatterbox")
			var two client
			if tr == TransportWS {
				two = dialWS(t, gw, "op_two", "pin_sk_two", time.Now())
			} else {
				two, _ = connectSSE(t, gw, "op_two", "pin_sk_two")
			}
			expect(t, two, protocol.TypeAuthSuccess)
			register(t, two, "B", "qwen3:0.6b")
			seenOne, seenTwo := operatorBot(one, nil), operatorBot(two, nil)

			// /v1/models: chat models of online operators, no tts:.
			resp, err := http.Get(gw.HTTPURL() + ModelsPath)
			if err != nil {
				t.Fatal(err)
			}
			var list struct {
				Object string
				Data   []struct{ ID, Object string }
			}
			_ = json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
			if list.Object != "list" || len(list.Data) != 2 || list.Data[0].ID != "llama3:8b" || list.Data[1].ID != "qwen3:0.6b" {
				t.Errorf("models = %+v", list)
			}

			// Non-streaming, routed to op_two by model.
			resp, body := postChat(t, gw, `{"model":"qwen3:0.6b","messages":[{"role":"user","content":"hi"}],"temperature":0.1,"max_completion_tokens":7}`)
			if resp.StatusCode != 200 {
				t.Fatalf("chat = %d %s", resp.StatusCode, body)
			}
			var out struct {
				ID, Object, Model string
				Choices           []struct {
					Message struct {
						Role             string
						Content          *string
						ReasoningContent string `json:"reasoning_content"`
					}
					FinishReason string `json:"finish_reason"`
				}
				Usage struct {
					TotalTokens int `json:"total_tokens"`
				}
			}
			if err := json.Unmarshal(body, &out); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(out.ID, "chatcmpl-") || out.Object != "chat.completion" || out.Model != "qwen3:0.6b" ||
				*out.Choices[0].Message.Content != "Hello ✓" || out.Choices[0].Message.ReasoningContent != "hmm" ||
				out.Choices[0].FinishReason != "stop" || out.Usage.TotalTokens != 5 {
				t.Errorf("completion = %s", body)
			}
			req := <-seenTwo
			var p protocol.InferencePayload
			_ = json.Unmarshal(req.Payload, &p)
			if p.Stream || *p.Temperature != 0.1 || *p.MaxTokens != 7 || p.Tools != nil || bytes.Contains(req.Payload, []byte("null")) {
				t.Errorf("forwarded payload %s", req.Payload)
			}
			if gw.OperatorFor("op_two").Terminals(req.RequestID) != 1 {
				t.Error("terminal not counted")
			}

			// Streaming with usage, routed to op_test.
			resp, body = postChat(t, gw, `{"model":"llama3:8b","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("stream = %d %s", resp.StatusCode, body)
			}
			<-seenOne
			data := sseData(t, body)
			if len(data) != 8 || data[len(data)-1] != "[DONE]" {
				t.Fatalf("stream events:\n%s", strings.Join(data, "\n"))
			}
			type chunk struct {
				Object  string
				Choices []struct {
					Delta struct {
						Role             string
						Content          *string
						ReasoningContent *string `json:"reasoning_content"`
					}
					FinishReason *string `json:"finish_reason"`
				}
				Usage *struct {
					TotalTokens int `json:"total_tokens"`
				}
			}
			var content, thinking string
			var chunks []chunk
			for _, d := range data[:len(data)-1] {
				var c chunk
				if err := json.Unmarshal([]byte(d), &c); err != nil || c.Object != "chat.completion.chunk" {
					t.Fatalf("chunk %s: %v", d, err)
				}
				chunks = append(chunks, c)
				if len(c.Choices) > 0 {
					if s := c.Choices[0].Delta.Content; s != nil {
						content += *s
					}
					if s := c.Choices[0].Delta.ReasoningContent; s != nil {
						thinking += *s
					}
				}
			}
			if chunks[0].Choices[0].Delta.Role != "assistant" || content != "Hello ✓" || thinking != "hmm" {
				t.Errorf("role %q content %q thinking %q", chunks[0].Choices[0].Delta.Role, content, thinking)
			}
			fin := chunks[len(chunks)-2]
			last := chunks[len(chunks)-1]
			if fin.Choices[0].FinishReason == nil || *fin.Choices[0].FinishReason != "stop" || len(last.Choices) != 0 || last.Usage == nil || last.Usage.TotalTokens != 5 {
				t.Errorf("final chunks %s / %s", data[len(data)-3], data[len(data)-2])
			}

			// Tools and tool_choice pass through; the tool call comes back OpenAI-shaped.
			_, body = postChat(t, gw, `{"model":"llama3:8b","stream":true,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"declare_role"}}],"tool_choice":"auto"}`)
			req = <-seenOne
			_ = json.Unmarshal(req.Payload, &p)
			if string(p.Tools) != `[{"type":"function","function":{"name":"declare_role"}}]` || string(p.ToolChoice) != `"auto"` {
				t.Errorf("tools not forwarded: %s", req.Payload)
			}
			data = sseData(t, body)
			var sawCall bool
			for _, d := range data {
				if strings.Contains(d, `"tool_calls":[`) {
					sawCall = true
					if !strings.Contains(d, `"arguments":"{\"role\":\"hiring\"}"`) || !strings.Contains(d, `"index":0`) || !strings.Contains(d, `"id":"call_0"`) {
						t.Errorf("tool call chunk %s", d)
					}
				}
				if strings.Contains(d, `"usage"`) {
					t.Errorf("usage sent without include_usage: %s", d)
				}
			}
			if !sawCall || !strings.Contains(data[len(data)-2], `"finish_reason":"tool_calls"`) {
				t.Errorf("tool stream:\n%s", strings.Join(data, "\n"))
			}
			// Non-streaming tool call: content null, arguments a string.
			_, body = postChat(t, gw, `{"model":"llama3:8b","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"declare_role"}}],"tool_choice":null}`)
			req = <-seenOne
			if bytes.Contains(req.Payload, []byte("tool_choice")) {
				t.Errorf("null tool_choice forwarded: %s", req.Payload)
			}
			if !bytes.Contains(body, []byte(`"content":null`)) || !bytes.Contains(body, []byte(`"arguments":"{\"role\":\"hiring\"}"`)) {
				t.Errorf("tool completion %s", body)
			}

			// Per-operator usage totals.
			u := gw.UsageByOperator()
			if u["op_test"].Requests != 3 || u["op_test"].TotalTokens != 15 || u["op_two"].Requests != 1 || u["op_two"].TotalTokens != 5 {
				t.Errorf("usage %+v", u)
			}
			// Finished consumer jobs are forgotten, their counts kept.
			if gw.Job(req.RequestID) != nil || gw.Terminals(req.RequestID) != 1 {
				t.Error("consumer job kept or terminal lost")
			}
			_ = ctx
		})
	}
}

func TestConsumerErrors(t *testing.T) {
	gw := New(t, Options{ConsumerKey: "sk-local"})
	c := connect(t, gw, TransportWS)
	register(t, c, "A", "llama3:8b")
	auth := []string{"Authorization", "Bearer sk-local"}
	cases := []struct {
		name, body string
		hdr        []string
		status     int
		code       string
	}{
		{"no key", `{"model":"llama3:8b","messages":[]}`, nil, 401, "invalid_api_key"},
		{"unknown model", `{"model":"nope","messages":[]}`, auth, 404, "model_not_found"},
		{"no model", `{"messages":[]}`, auth, 400, "invalid_request_error"},
		{"messages not array", `{"model":"llama3:8b","messages":"hi"}`, auth, 400, "invalid_request_error"},
		{"not json", `hello`, auth, 400, "invalid_request_error"},
	}
	for _, tc := range cases {
		resp, body := postChat(t, gw, tc.body, tc.hdr...)
		var e struct {
			Error struct{ Message, Code string }
		}
		_ = json.Unmarshal(body, &e)
		if resp.StatusCode != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	// An operator error reaches the consumer.
	go func() {
		for e := range c.evs() {
			if r, ok := e.msg.(*protocol.InferenceRequest); ok {
				_ = c.trySend(&protocol.InferenceError{RequestID: r.RequestID, Error: "Ollama error 404 Not Found: model not found"})
				return
			}
		}
	}()
	resp, body := postChat(t, gw, `{"model":"llama3:8b","messages":[]}`, auth...)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "model not found") {
		t.Errorf("operator error: %d %s", resp.StatusCode, body)
	}
	if u := gw.Usage(); u.Failed != 1 || u.Requests != 0 {
		t.Errorf("usage %+v", u)
	}
}

func TestConsumerCapacity(t *testing.T) {
	gw := New(t, Options{QueueTimeout: 5 * time.Second})
	ctx := testCtx(t)
	c := connect(t, gw, TransportSSE)
	c.send(t, &protocol.RegisterNode{Alias: "A", Models: []string{"m"}, Capacity: 1, Region: "global"})
	hold := make(chan struct{})
	seen := operatorBot(c, hold)

	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Go(func() {
			resp, _ := postChat(t, gw, `{"model":"m","messages":[]}`)
			codes <- resp.StatusCode
		})
	}
	<-seen // the first request is on the node
	if err := gw.Wait(ctx, func() bool { return gw.InFlight()["A"] == 1 }); err != nil {
		t.Fatal(err)
	}
	// The second waits: the node has capacity 1. It is sent only once the first is done.
	select {
	case <-seen:
		t.Fatal("second request sent beyond capacity")
	default:
	}
	hold <- struct{}{}
	<-seen
	hold <- struct{}{}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 200 {
			t.Errorf("status %d", code)
		}
	}
	if err := gw.Wait(ctx, func() bool { return len(gw.InFlight()) == 0 }); err != nil {
		t.Fatal(err)
	}
}

func TestConsumerQueueTimeout(t *testing.T) {
	gw := New(t, Options{QueueTimeout: 50 * time.Millisecond})
	c := connect(t, gw, TransportWS)
	c.send(t, &protocol.RegisterNode{Alias: "A", Models: []string{"m"}, Capacity: 1, Region: "global"})
	expect(t, c, protocol.TypeRegisterNodeAck)
	hold := make(chan struct{})
	seen := operatorBot(c, hold)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, _ := postChat(t, gw, `{"model":"m","messages":[]}`)
		if resp.StatusCode != 200 {
			t.Errorf("first: %d", resp.StatusCode)
		}
	}()
	<-seen
	resp, body := postChat(t, gw, `{"model":"m","messages":[]}`)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "no_capacity") {
		t.Errorf("queued past timeout: %d %s", resp.StatusCode, body)
	}
	hold <- struct{}{}
	<-done
}

func TestConsumerOperatorDisconnects(t *testing.T) {
	for _, stream := range []bool{false, true} {
		gw := New(t, Options{})
		ctx := testCtx(t)
		c := connect(t, gw, TransportWS)
		register(t, c, "A", "m")
		go func() {
			for e := range c.evs() {
				if _, ok := e.msg.(*protocol.InferenceRequest); ok {
					_ = gw.DropLink()
					return
				}
			}
		}()
		body := `{"model":"m","messages":[],"stream":` + map[bool]string{false: "false", true: "true"}[stream] + `}`
		resp, out := postChat(t, gw, body)
		if stream {
			d := sseData(t, out)
			if resp.StatusCode != 200 || !strings.Contains(d[len(d)-1], "disconnected") {
				t.Errorf("stream: %d %s", resp.StatusCode, out)
			}
		} else if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(out), "disconnected") {
			t.Errorf("non-stream: %d %s", resp.StatusCode, out)
		}
		// The capacity slot is free again.
		if err := gw.Wait(ctx, func() bool { return len(gw.InFlight()) == 0 }); err != nil {
			t.Fatal(err)
		}
	}
}

func TestListenAndServe(t *testing.T) {
	for _, bad := range []string{"0.0.0.0:0", "192.168.1.10:0", ":0", "nonsense"} {
		if g, err := Listen(bad, Options{}); err == nil {
			g.Close()
			t.Errorf("Listen(%q) accepted", bad)
		}
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	ready := make(chan *Gateway, 1)
	errc := make(chan error, 1)
	go func() { errc <- Serve(ctx, "127.0.0.1:0", Options{}, func(g *Gateway) { ready <- g }) }()
	g := <-ready
	if !strings.HasPrefix(g.URL(), "ws://127.0.0.1:") {
		t.Errorf("URL %s", g.URL())
	}
	c := dialWS(t, g, DefaultClientID, DefaultSecret, time.Now())
	expect(t, c, protocol.TypeAuthSuccess)
	sc, resp := connectSSE(t, g, DefaultClientID, DefaultSecret)
	if sc == nil {
		t.Fatalf("sse: %s", resp.Status)
	}
	expect(t, sc, protocol.TypeAuthSuccess)
	resp2, err := http.Get(g.HTTPURL() + ModelsPath)
	if err != nil || resp2.StatusCode != 200 {
		t.Fatalf("models: %v", err)
	}
	resp2.Body.Close()
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve = %v", err)
	}
	c.ended(t)
	sc.ended(t)
	if g.opts.MaxFrames != 10000 {
		t.Errorf("MaxFrames = %d", g.opts.MaxFrames)
	}
}

func TestTrimRecords(t *testing.T) {
	gw := New(t, Options{MaxFrames: 10})
	c := connect(t, gw, TransportWS)
	for range 25 {
		c.send(t, &protocol.Heartbeat{})
		expect(t, c, protocol.TypeHeartbeatAck)
	}
	if n := len(gw.Frames()); n > 10 || n == 0 {
		t.Errorf("%d frames kept", n)
	}
	if fr := gw.Frames(); !slices.IsSortedFunc(fr, func(a, b Frame) int { return a.Seq - b.Seq }) || fr[len(fr)-1].Type != "HEARTBEAT" {
		t.Errorf("trimmed records lost the newest: %+v", fr[len(fr)-1])
	}
	if gw.Heartbeats() != 25 {
		t.Errorf("heartbeats %d", gw.Heartbeats())
	}
}
