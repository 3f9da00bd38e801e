package pintest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pin-client/pin-client/core/protocol"
)

func register(t *testing.T, c client, alias string, models ...string) *protocol.RegisterNodeAck {
	t.Helper()
	c.send(t, &protocol.RegisterNode{Alias: alias, Models: models, Capacity: 2, Region: "eu-west", PricePerThousandTokens: 0.002, APIMode: "openai"})
	return expect(t, c, protocol.TypeRegisterNodeAck).msg.(*protocol.RegisterNodeAck)
}

func TestURLs(t *testing.T) {
	gw := New(t, Options{})
	if !strings.HasPrefix(gw.URL(), "ws://127.0.0.1:") || !strings.HasSuffix(gw.URL(), "/api/v1/pin/ws") {
		t.Errorf("URL = %s", gw.URL())
	}
	// SSEBase is what a client derives from URL (§2.3): strip /ws, ws:// → http://.
	derived := "http" + strings.TrimPrefix(strings.TrimSuffix(gw.URL(), "/ws"), "ws")
	if gw.SSEBase() != derived {
		t.Errorf("SSEBase = %s, derived %s", gw.SSEBase(), derived)
	}
}

func TestRegistrationBothTransports(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			gw := New(t, Options{})
			ctx := testCtx(t)
			c := connect(t, gw, tr)
			if err := gw.WaitOnline(ctx); err != nil {
				t.Fatal(err)
			}
			if gw.Transport() != tr {
				t.Errorf("Transport = %q", gw.Transport())
			}
			acks := map[string]*protocol.RegisterNodeAck{}
			for _, n := range []struct {
				alias  string
				models []string
			}{{"A", []string{"llama3:8b"}}, {"B", []string{"qwen3:0.6b", "tts:chatterbox"}}, {"C", nil}} {
				ack := register(t, c, n.alias, n.models...)
				if !strings.HasPrefix(ack.NodeID, "node_") || ack.Alias != n.alias || !ack.Created || !slices.Equal(ack.Models, n.models) && len(n.models) > 0 {
					t.Errorf("ack = %+v", ack)
				}
				acks[n.alias] = ack
			}
			nodes, err := gw.WaitNodes(ctx, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes) != 3 || nodes[1].Alias != "B" || nodes[1].ID != acks["B"].NodeID || nodes[1].Capacity != 2 ||
				nodes[1].Region != "eu-west" || nodes[1].PricePerThousandTokens != 0.002 || nodes[1].Transport != tr {
				t.Errorf("nodes = %+v", nodes)
			}
			// apiMode exists on the SSE register body only (§4.3.3).
			if wantMode := map[string]string{TransportWS: "openai", TransportSSE: "openai"}[tr]; nodes[0].APIMode != wantMode {
				t.Errorf("APIMode = %q", nodes[0].APIMode)
			}
			if got := gw.Models(); !slices.Equal(got, []string{"llama3:8b", "qwen3:0.6b", "tts:chatterbox"}) {
				t.Errorf("Models = %v", got)
			}

			// Heartbeat and model re-assertion.
			c.send(t, &protocol.Heartbeat{})
			if tr == TransportWS {
				expect(t, c, protocol.TypeHeartbeatAck)
			}
			c.send(t, &protocol.ModelList{Models: []string{"llama3:8b", "phi4"}})
			if tr == TransportWS {
				expect(t, c, protocol.TypeModelListAck)
			}
			if got := gw.Models(); !slices.Equal(got, []string{"llama3:8b", "phi4"}) {
				t.Errorf("Models after list = %v", got)
			}
			ad := gw.Adverts()
			wantSrc := map[string]string{TransportWS: "MODEL_LIST", TransportSSE: "X-PIN-Models"}[tr]
			if len(ad) != 4 || ad[3].Source != wantSrc || ad[0].Source != "REGISTER_NODE" || ad[0].Alias != "A" {
				t.Errorf("adverts = %+v", ad)
			}
			if gw.Heartbeats() < 1 || gw.LastHeartbeat().IsZero() || !gw.Online() {
				t.Errorf("heartbeats %d last %v online %v", gw.Heartbeats(), gw.LastHeartbeat(), gw.Online())
			}

			// Every frame was recorded, accepted.
			var types []string
			for _, f := range gw.Frames() {
				types = append(types, f.Type)
				if f.Err != "" || f.Transport != tr || f.ClientID != DefaultClientID {
					t.Errorf("frame %+v", f)
				}
				if tr == TransportSSE && f.Status != http.StatusOK {
					t.Errorf("SSE frame status %d: %+v", f.Status, f)
				}
			}
			wantTypes := map[string][]string{
				TransportWS:  {"AUTH", "REGISTER_NODE", "REGISTER_NODE", "REGISTER_NODE", "HEARTBEAT", "MODEL_LIST"},
				TransportSSE: {"CONNECT", "REGISTER_NODE", "REGISTER_NODE", "REGISTER_NODE", "HEARTBEAT", "MODEL_LIST"},
			}[tr]
			if !slices.Equal(types, wantTypes) {
				t.Errorf("frame types = %v, want %v", types, wantTypes)
			}
			if fr := gw.FramesOf("MODEL_LIST"); tr == TransportSSE && (!slices.Equal(fr[0].Models, []string{"llama3:8b", "phi4"}) || len(fr[0].Body) != 0) {
				t.Errorf("X-PIN-Models frame = %+v", fr[0])
			}

			// Reconnect: the same alias keeps its id and is "updated".
			c.close()
			c2 := connect(t, gw, tr)
			if err := gw.WaitSessions(ctx, 2); err != nil {
				t.Fatal(err)
			}
			ack := register(t, c2, "B", "qwen3:0.6b")
			if ack.Created || ack.NodeID != acks["B"].NodeID {
				t.Errorf("re-register ack = %+v", ack)
			}
			if n, _ := gw.Node("B"); n.Registrations != 2 {
				t.Errorf("registrations = %d", n.Registrations)
			}
			if _, err := gw.WaitNodes(ctx, 1); err != nil {
				t.Fatal(err)
			}
			// The new session advertises only what it registered.
			if got := gw.Models(); !slices.Equal(got, []string{"qwen3:0.6b"}) {
				t.Errorf("Models on new session = %v", got)
			}
		})
	}
}

func TestWSAuthSuccessShape(t *testing.T) {
	gw := New(t, Options{})
	c := dialWS(t, gw, DefaultClientID, DefaultSecret, time.Now())
	e := expect(t, c, protocol.TypeAuthSuccess)
	if !bytes.Contains(e.raw, []byte(`"node_id":null`)) || !bytes.Contains(e.raw, []byte(`"operator_id":"op_test"`)) {
		t.Errorf("AUTH_SUCCESS = %s", e.raw)
	}
	c.send(t, &protocol.UpdateWallet{PayoutAddress: "0xabc"})
	if a := expect(t, c, protocol.TypeUpdateWalletAck).msg.(*protocol.UpdateWalletAck); !a.Success {
		t.Errorf("wallet ack = %+v", a)
	}
	if gw.Wallet() != "0xabc" {
		t.Errorf("Wallet = %q", gw.Wallet())
	}
}

func TestWSAuthRejected(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	cases := []struct {
		name      string
		client    string
		secret    string
		signedAt  time.Time
		firstRaw  string // sent instead of AUTH
		wantError string
	}{
		{"wrong secret", DefaultClientID, "pin_sk_wrong", now, "", "Invalid signature"},
		{"unknown operator", "op_nobody", DefaultSecret, now, "", "Unknown operator"},
		{"stale timestamp", DefaultClientID, DefaultSecret, now.Add(-301 * time.Second), "", "Timestamp expired"},
		{"future timestamp", DefaultClientID, DefaultSecret, now.Add(301 * time.Second), "", "Timestamp expired"},
		{"first frame not AUTH", DefaultClientID, DefaultSecret, now, `{"type":"HEARTBEAT"}`, "Authentication required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := New(t, Options{Now: clock})
			var c *wsClient
			if tc.firstRaw != "" {
				conn, resp, err := websocket.DefaultDialer.Dial(gw.URL(), nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				c = &wsClient{conn: conn, downlink: newDownlink("ws")}
				go c.read()
				t.Cleanup(c.close)
				c.sendRaw(t, []byte(tc.firstRaw))
			} else {
				c = dialWS(t, gw, tc.client, tc.secret, tc.signedAt)
			}
			e := c.next(t)
			if m, ok := e.msg.(*protocol.Error); !ok || !strings.Contains(m.Message, tc.wantError) {
				t.Errorf("got %s, want ERROR %q", e.raw, tc.wantError)
			}
			err := c.ended(t)
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
				t.Errorf("end = %v, want close 1008", err)
			}
			if gw.Connected() || gw.Sessions() != 0 {
				t.Error("rejected client counted as connected")
			}
			fr := gw.Frames()
			if len(fr) != 1 || !strings.Contains(fr[0].Err, tc.wantError) {
				t.Errorf("frames = %+v", fr)
			}
		})
	}
	// Within the window on both sides is accepted.
	gw := New(t, Options{Now: clock})
	for _, at := range []time.Time{now.Add(-299 * time.Second), now.Add(299 * time.Second)} {
		c := dialWS(t, gw, DefaultClientID, DefaultSecret, at)
		expect(t, c, protocol.TypeAuthSuccess)
		c.close()
	}
	// SetRejectAuth refuses good credentials.
	gw.SetRejectAuth("Operator suspended")
	c := dialWS(t, gw, DefaultClientID, DefaultSecret, now)
	if m, ok := c.next(t).msg.(*protocol.Error); !ok || m.Message != "Operator suspended" {
		t.Errorf("got %#v", m)
	}
}

func TestSSEConnect(t *testing.T) {
	gw := New(t, Options{})
	c, resp := connectSSE(t, gw, DefaultClientID, DefaultSecret)
	if c == nil {
		t.Fatalf("connect: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !strings.HasPrefix(c.token, "pst_") || len(c.token) < 20 {
		t.Errorf("token = %q", c.token)
	}
	e := c.next(t) // the very first event
	a, ok := e.msg.(*protocol.AuthSuccess)
	if !ok || a.OperatorID != DefaultClientID {
		t.Fatalf("first event = %s", e.raw)
	}
	if err := gw.Keepalive(); err != nil {
		t.Fatal(err)
	}
	if err := gw.Send(&protocol.HeartbeatAck{}); err != nil {
		t.Fatal(err)
	}
	expect(t, c, protocol.TypeHeartbeatAck) // the keepalive comment produced no event
	if err := gw.PingJSON(testCtx(t)); !errors.Is(err, ErrWrongTransport) {
		t.Errorf("PingJSON on SSE = %v", err)
	}
}

func TestSSEAuthSuccessCamelCase(t *testing.T) {
	gw := New(t, Options{AuthSuccessCamelCase: true})
	c, _ := connectSSE(t, gw, DefaultClientID, DefaultSecret)
	e := c.next(t)
	if !bytes.Contains(e.raw, []byte(`"operatorId":"op_test"`)) || !bytes.Contains(e.raw, []byte(`"streamToken":"`+c.token+`"`)) {
		t.Errorf("AUTH_SUCCESS = %s", e.raw)
	}
	if a, ok := e.msg.(*protocol.AuthSuccess); !ok || a.OperatorID != DefaultClientID {
		t.Errorf("decoded %#v", e.msg)
	}
}

func TestSSERejections(t *testing.T) {
	gw := New(t, Options{})
	// Connect failures.
	if c, resp := connectSSE(t, gw, DefaultClientID, "pin_sk_wrong"); c != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret: %v", resp.Status)
	} else if b := readAll(resp); !strings.Contains(b, "Invalid signature") {
		t.Errorf("body %q", b)
	}
	req, _ := http.NewRequest(http.MethodGet, gw.SSEBase()+"/stream/connect", nil)
	sign(req, DefaultClientID, DefaultSecret, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(readAll(resp), "Accept") {
		t.Errorf("no Accept: %s", resp.Status)
	}
	gw.SetRejectAuth("Operator suspended")
	if c, resp := connectSSE(t, gw, DefaultClientID, DefaultSecret); c != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("rejected auth: %v", resp.Status)
	}
	gw.SetRejectAuth("")

	c, _ := connectSSE(t, gw, DefaultClientID, DefaultSecret)
	body := []byte(`{"alias":"A","models":[],"capacity":1,"region":"global","pricePerThousandTokens":0.001}`)
	cases := []struct {
		name   string
		path   string
		body   []byte
		hdr    map[string]string
		status int
		msg    string
	}{
		{"bad token", "register", body, map[string]string{HeaderStreamToken: "pst_forged"}, 403, "Stream-Token"},
		{"no token", "heartbeat", []byte("{}"), map[string]string{HeaderStreamToken: ""}, 403, "Stream-Token"},
		{"bad signature", "heartbeat", []byte("{}"), map[string]string{HeaderSignature: strings.Repeat("0", 64)}, 401, "Invalid signature"},
		{"no content type", "register", body, map[string]string{"Content-Type": ""}, 415, "Content-Type"},
		{"register without alias", "register", []byte(`{"models":[]}`), nil, 422, "alias"},
		{"chunk without id", "chunk", []byte(`{"delta":"x"}`), nil, 422, "request_id"},
		{"result envelope", "result", []byte(`{"type":"INFERENCE_RESPONSE","request_id":"r","result":{"choices":[]}}`), nil, 422, "payload, not the envelope"},
		{"result wrapped twice", "result", []byte(`{"request_id":"r","result":{"request_id":"r","result":{"choices":[]}}}`), nil, 422, "wrapped twice"},
		{"result without result", "result", []byte(`{"request_id":"r"}`), nil, 422, `"result"`},
		{"result of nothing", "result", []byte(`{"request_id":"r","result":{"model":"m"}}`), nil, 422, "choices"},
		{"interview without id", "result", []byte(`{"request_id":"","result":{"model":"m","results":[]}}`), nil, 422, "interview_id"},
	}
	for _, tc := range cases {
		st, msg := c.post(t, tc.path, tc.body, tc.hdr)
		if st != tc.status || !strings.Contains(msg, tc.msg) || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
			t.Errorf("%s: %d %q, want %d containing %q (one line)", tc.name, st, msg, tc.status, tc.msg)
		}
	}
	if len(gw.Nodes()) != 0 {
		t.Error("a rejected register created a node")
	}
	// Rejected requests are recorded with their status.
	var rejected int
	for _, f := range gw.Frames() {
		if f.Status >= 400 {
			rejected++
			if f.Err == "" {
				t.Errorf("rejected frame without reason: %+v", f)
			}
		}
	}
	if want := len(cases) + 3; rejected != want {
		t.Errorf("%d rejected frames recorded, want %d", rejected, want)
	}
	// Token of an ended session is refused.
	if err := gw.CloseLink(); err != nil {
		t.Fatal(err)
	}
	if err := c.ended(t); err != nil {
		t.Errorf("clean close ended with %v", err)
	}
	if err := gw.Wait(testCtx(t), func() bool { return !gw.Connected() }); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.post(t, "heartbeat", []byte("{}"), nil); st != 403 {
		t.Errorf("old token: %d", st)
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}

func TestInferenceBothTransports(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			gw := New(t, Options{})
			ctx := testCtx(t)
			c := connect(t, gw, tr)
			register(t, c, "A", "llama3:8b")

			temp := 0.2
			job, err := gw.Infer(ctx, protocol.InferencePayload{Model: "llama3:8b", Stream: true, Temperature: &temp,
				Messages: json.RawMessage(`[{"role":"user","content":"héllo"}]`), Tools: json.RawMessage(`[{"type":"function"}]`)})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(job.ID, "pin_req_") || len(job.ID) != len("pin_req_")+22 {
				t.Errorf("request id %q", job.ID)
			}
			req := expect(t, c, protocol.TypeInferenceRequest).msg.(*protocol.InferenceRequest)
			var p protocol.InferencePayload
			if err := json.Unmarshal(req.Payload, &p); err != nil || req.RequestID != job.ID || p.Model != "llama3:8b" ||
				!p.Stream || *p.Temperature != 0.2 || string(p.Tools) != `[{"type":"function"}]` || p.MaxTokens != nil {
				t.Fatalf("request %s: %+v %v", req.Payload, p, err)
			}
			if bytes.Contains(req.Payload, []byte("null")) {
				t.Errorf("payload has null: %s", req.Payload)
			}

			// Chunks with index gaps (coalescing) and both kinds; reassembled in arrival order.
			for _, ch := range []protocol.InferenceChunk{
				{RequestID: job.ID, Index: 0, Delta: "let me ", Kind: KindThinking},
				{RequestID: job.ID, Index: 3, Delta: "think", Kind: KindThinking},
				{RequestID: job.ID, Index: 4, Delta: "Hel"},
				{RequestID: job.ID, Index: 9, Delta: "lo ✓", Kind: KindContent},
			} {
				c.send(t, &ch)
			}
			result := json.RawMessage(`{"choices":[{"index":0,"message":{"role":"assistant","content":"Hello ✓","thinking":"let me think"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8},"model":"llama3:8b"}`)
			c.send(t, &protocol.InferenceResponse{RequestID: job.ID, Result: result})
			res, err := job.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() || res.Type != protocol.TypeInferenceResponse || res.Transport != tr || string(res.Payload) != string(result) {
				t.Errorf("result %+v", res)
			}
			chat, err := res.Chat()
			if err != nil || chat.Choices[0].Message.Content != "Hello ✓" || chat.Usage.TotalTokens != 8 {
				t.Errorf("chat %+v %v", chat, err)
			}
			if job.Text(KindContent) != "Hello ✓" || job.Text(KindThinking) != "let me think" || job.Text("") != "let me thinkHello ✓" {
				t.Errorf("text %q / %q", job.Text(KindContent), job.Text(KindThinking))
			}
			if ch := job.Chunks(); len(ch) != 4 || ch[2].Kind != KindContent || ch[3].Index != 9 {
				t.Errorf("chunks %+v", ch)
			}
			if tr == TransportSSE {
				if a := expect(t, c, protocol.TypeResultAck).msg.(*protocol.ResultAck); a.RequestID != job.ID {
					t.Errorf("RESULT_ACK %+v", a)
				}
			}
			if n := gw.Terminals(job.ID); n != 1 {
				t.Errorf("Terminals = %d", n)
			}
			// A late chunk and a second terminal are visible.
			c.send(t, &protocol.InferenceChunk{RequestID: job.ID, Index: 10, Delta: "x", Kind: KindContent})
			c.send(t, &protocol.InferenceError{RequestID: job.ID, Error: "again"})
			if err := gw.Wait(ctx, func() bool { return gw.Terminals(job.ID) == 2 }); err != nil {
				t.Fatal(err)
			}
			if job.LateChunks() != 1 || job.Result().Err != "" {
				t.Errorf("late %d, result %+v", job.LateChunks(), job.Result())
			}

			// An error result.
			job2, _ := gw.Infer(ctx, protocol.InferencePayload{Model: "m", Messages: json.RawMessage(`[]`)})
			expect(t, c, protocol.TypeInferenceRequest)
			c.send(t, &protocol.InferenceError{RequestID: job2.ID, Error: "Ollama error 404 Not Found: model not found"})
			res2, _ := job2.Wait(ctx)
			if res2.OK() || res2.Type != protocol.TypeInferenceError || res2.Err != "Ollama error 404 Not Found: model not found" {
				t.Errorf("error result %+v", res2)
			}
			if _, err := res2.Chat(); err == nil {
				t.Error("Chat on an error result")
			}
			if u := gw.Usage(); u.Requests != 1 || u.Failed != 1 || u.TotalTokens != 8 || u.PromptTokens != 3 {
				t.Errorf("usage %+v", u)
			}

			// A malformed payload goes out verbatim.
			job3, _ := gw.InferRaw(ctx, json.RawMessage(`{"model":"m","messages":[{"role":"user","content":null}]}`))
			r3 := expect(t, c, protocol.TypeInferenceRequest).msg.(*protocol.InferenceRequest)
			if r3.RequestID != job3.ID || !bytes.Contains(r3.Payload, []byte(`"content":null`)) {
				t.Errorf("raw payload %s", r3.Payload)
			}
		})
	}
}

func TestTTSBothTransports(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			gw := New(t, Options{})
			ctx := testCtx(t)
			c := connect(t, gw, tr)
			job, err := gw.TTS(ctx, protocol.TTSPayload{Model: "chatterbox-turbo", Input: "Welcome", Voice: "ris", ResponseFormat: "wav"})
			if err != nil {
				t.Fatal(err)
			}
			req := expect(t, c, protocol.TypeTTSRequest).msg.(*protocol.TTSRequest)
			if req.RequestID != job.ID || !strings.HasPrefix(job.ID, "tts_") || bytes.Contains(req.Payload, []byte("speed")) {
				t.Errorf("request %s %s", req.RequestID, req.Payload)
			}
			c.send(t, &protocol.TTSResponse{RequestID: job.ID, Result: protocol.TTSResult{Model: "chatterbox-turbo", Voice: "ris", Format: "wav", ContentType: "audio/wav", Bytes: 3, AudioB64: "Zm9v"}})
			res, _ := job.Wait(ctx)
			sp, err := res.Speech()
			if err != nil || res.Type != protocol.TypeTTSResponse || sp.AudioB64 != "Zm9v" || sp.Bytes != 3 {
				t.Errorf("tts %+v %+v %v", res, sp, err)
			}
			job2, _ := gw.TTS(ctx, protocol.TTSPayload{Model: "x", Input: "y"})
			expect(t, c, protocol.TypeTTSRequest)
			c.send(t, &protocol.TTSError{RequestID: job2.ID, Error: "no TTS backend configured on this operator"})
			res2, _ := job2.Wait(ctx)
			if res2.OK() || res2.Type != protocol.TypeTTSError || !strings.Contains(res2.Err, "no TTS backend") {
				t.Errorf("tts error %+v", res2)
			}
		})
	}
}

func TestInterviewBothTransports(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			gw := New(t, Options{InterviewOnRegister: func(n Node) *protocol.InterviewRequest {
				if len(n.Models) == 0 {
					return nil
				}
				return &protocol.InterviewRequest{NodeID: n.ID, Model: n.Models[0], TimeoutMs: 60000,
					Prompts: []protocol.Prompt{{ID: "factual_1", Prompt: "2+2?", MaxTokens: 10}, {ID: "math_2", Prompt: "3*3?"}}}
			}})
			ctx := testCtx(t)
			c := connect(t, gw, tr)
			ack := register(t, c, "A", "llama3:8b")
			req := expect(t, c, protocol.TypeInterviewRequest).msg.(*protocol.InterviewRequest)
			if req.NodeID != ack.NodeID || req.Model != "llama3:8b" || len(req.Prompts) != 2 || !strings.HasPrefix(req.InterviewID, "interview_") {
				t.Fatalf("interview request %+v", req)
			}
			iv := gw.InterviewByID(req.InterviewID)
			c.send(t, &protocol.InterviewResult{InterviewID: req.InterviewID, Model: "llama3:8b", Results: []protocol.PromptResult{
				{PromptID: "factual_1", Response: "4", TTFTMs: 50, TotalMs: 100, TokensGenerated: 5},
				{PromptID: "math_2", Response: "9", TTFTMs: 50, TotalMs: 100, TokensGenerated: 5}}})
			res, err := iv.Wait(ctx)
			if err != nil || len(res.Results) != 2 || res.Results[0].Response != "4" {
				t.Fatalf("interview result %+v %v", res, err)
			}
			if tr == TransportSSE {
				if e := c.next(t); e.msg.MsgType() != protocol.TypeResultAck {
					t.Errorf("after the interview result: %s, want RESULT_ACK first", e.raw)
				}
			}
			done := expect(t, c, protocol.TypeInterviewComplete).msg.(*protocol.InterviewComplete)
			if done.Tier != "verified" || done.Accuracy != 100 || done.TokensPerSec != 50 || done.NodeID != ack.NodeID {
				t.Errorf("complete %+v", done)
			}
			if gw.Terminals(req.InterviewID) != 1 {
				t.Errorf("terminals %d", gw.Terminals(req.InterviewID))
			}
			if tr == TransportSSE {
				if f := gw.FramesOf(protocol.TypeInterviewResult); len(f) != 1 || !bytes.Contains(f[0].Body, []byte(`"request_id":""`)) {
					t.Errorf("interview frame %+v", f)
				}
			}

			// Interview() sends and waits; an all-error result is graded failed.
			go func() {
				for e := range c.evs() {
					if r, ok := e.msg.(*protocol.InterviewRequest); ok {
						_ = c.trySend(&protocol.InterviewResult{InterviewID: r.InterviewID, Model: r.Model,
							Results: []protocol.PromptResult{{PromptID: "p", TotalMs: 10, Error: "Ollama request failed: boom"}}})
						return
					}
				}
			}()
			out, err := gw.Interview(ctx, protocol.InterviewRequest{Model: "llama3:8b", Prompts: []protocol.Prompt{{ID: "p", Prompt: "q"}}})
			if err != nil || out.Results[0].Error == "" {
				t.Fatalf("Interview = %+v %v", out, err)
			}
			if err := gw.Wait(ctx, func() bool {
				return slices.ContainsFunc(gw.Sent(), func(f Frame) bool {
					return f.Type == protocol.TypeInterviewComplete && bytes.Contains(f.Body, []byte(`"tier":"failed"`))
				})
			}); err != nil {
				t.Errorf("failed grade not sent: %v", err)
			}
		})
	}
}

func TestDefaultGrade(t *testing.T) {
	req := &protocol.InterviewRequest{NodeID: "n", Prompts: make([]protocol.Prompt, 10)}
	cases := []struct {
		ok, tokens int
		ms         int64
		tier       string
	}{
		{10, 300, 10000, "verified"}, // 100 %, 30 tok/s
		{10, 150, 10000, "standard"}, // 100 %, 15 tok/s
		{8, 300, 10000, "standard"},  // 80 %, 30 tok/s
		{10, 50, 10000, "slow"},      // 5 tok/s
		{6, 300, 10000, "failed"},    // 60 %
	}
	for _, tc := range cases {
		res := &protocol.InterviewResult{InterviewID: "i"}
		for i := range 10 {
			p := protocol.PromptResult{PromptID: "p", TotalMs: tc.ms / 10, TokensGenerated: tc.tokens / 10}
			if i < tc.ok {
				p.Response = "x"
			} else {
				p.Error = "e"
			}
			res.Results = append(res.Results, p)
		}
		got := DefaultGrade(req, res).(*protocol.InterviewComplete)
		if got.Tier != tc.tier || got.NodeID != "n" {
			t.Errorf("%+v → %+v, want %s", tc, got, tc.tier)
		}
	}
}

func TestFailInterviewThenClose(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			gw := New(t, Options{})
			c := connect(t, gw, tr)
			ack := register(t, c, "A", "llama3:8b")
			if err := gw.FailInterview(259); err != nil {
				t.Fatal(err)
			}
			f := expect(t, c, protocol.TypeInterviewFailed).msg.(*protocol.InterviewFailed)
			if f.RetryAfterSeconds == nil || *f.RetryAfterSeconds != 259 || f.Reason != "recently_failed" || f.NodeID != ack.NodeID {
				t.Errorf("failed = %+v", f)
			}
			err := c.ended(t)
			if tr == TransportWS {
				if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
					t.Errorf("ws end = %v, want a Close frame", err)
				}
			} else if err != nil {
				t.Errorf("sse end = %v, want clean EOF", err)
			}

			c2 := connect(t, gw, tr)
			register(t, c2, "A")
			if err := gw.FailInterview(0, "llama3:8b", "mistral:7b"); err != nil {
				t.Fatal(err)
			}
			f = expect(t, c2, protocol.TypeInterviewFailed).msg.(*protocol.InterviewFailed)
			if f.RetryAfterSeconds != nil || !slices.Equal(f.RequiredModels, []string{"llama3:8b", "mistral:7b"}) || f.Reason != "no_interview_model" {
				t.Errorf("failed = %+v", f)
			}
			c2.ended(t)
		})
	}
}

func TestDropLinkAndReconnect(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			gw := New(t, Options{})
			ctx := testCtx(t)
			c := connect(t, gw, tr)
			register(t, c, "A", "m")
			if err := gw.DropLink(); err != nil {
				t.Fatal(err)
			}
			err := c.ended(t)
			if err == nil || websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Errorf("drop ended with %v, want an abrupt error", err)
			}
			if err := gw.Wait(ctx, func() bool { return !gw.Connected() }); err != nil {
				t.Fatal(err)
			}
			if _, err := gw.Infer(ctx, protocol.InferencePayload{Model: "m"}); !errors.Is(err, ErrNotConnected) {
				t.Errorf("Infer while down = %v", err)
			}
			if err := gw.DropLink(); !errors.Is(err, ErrNotConnected) {
				t.Errorf("DropLink while down = %v", err)
			}
			c2 := connect(t, gw, tr)
			if err := gw.WaitSessions(ctx, 2); err != nil {
				t.Fatal(err)
			}
			register(t, c2, "A", "m")
			if _, err := gw.WaitNodes(ctx, 1); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPings(t *testing.T) {
	gw := New(t, Options{})
	ctx := testCtx(t)
	c := connect(t, gw, TransportWS).(*wsClient)
	if err := gw.PingJSON(ctx); err != nil {
		t.Fatalf("PingJSON: %v", err)
	}
	if err := gw.PingProtocol(ctx, []byte("abc")); err != nil {
		t.Fatalf("PingProtocol: %v", err)
	}
	if f := gw.FramesOf("ws:pong"); len(f) != 1 || string(f[0].Body) != "abc" {
		t.Errorf("pong frames %+v", f)
	}
	if len(gw.FramesOf(protocol.TypePong)) != 1 {
		t.Error("PONG not recorded")
	}
	// A client that does not answer: PingJSON fails when the session ends.
	c.answerPings = false
	c.conn.SetPingHandler(func(string) error { return nil })
	gw.DropLink()
	c.ended(t)
	if err := gw.PingJSON(ctx); !errors.Is(err, ErrNotConnected) {
		t.Errorf("PingJSON while down = %v", err)
	}
}

func TestPingIntervalClosesSilentSocket(t *testing.T) {
	gw := New(t, Options{PingInterval: 20 * time.Millisecond})
	conn, resp, err := websocket.DefaultDialer.Dial(gw.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c := &wsClient{conn: conn, downlink: newDownlink("ws")}
	conn.SetPingHandler(func(string) error { return nil }) // never Pong
	ts, sig := protocol.Sign(DefaultClientID, protocol.NewSecret(DefaultSecret), time.Now())
	b, _ := protocol.Encode(&protocol.Auth{ClientID: DefaultClientID, Timestamp: ts, Signature: sig})
	_ = conn.WriteMessage(websocket.TextMessage, b)
	go c.read()
	t.Cleanup(c.close)
	expect(t, c, protocol.TypeAuthSuccess)
	expect(t, c, protocol.TypePing) // the JSON PING arrives too
	if err := c.ended(t); err == nil {
		t.Error("silent socket not closed")
	}

	// An answering client stays connected over several intervals.
	c2 := connect(t, gw, TransportWS)
	for range 3 {
		expect(t, c2, protocol.TypePing)
	}
	if err := gw.Wait(testCtx(t), func() bool { return len(gw.FramesOf("ws:pong")) >= 2 }); err != nil {
		t.Fatal(err)
	}
	if !gw.Connected() {
		t.Error("answering client dropped")
	}
}

func TestSendUnknownRawAndAckWithoutID(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			gw := New(t, Options{})
			ctx := testCtx(t)
			c := connect(t, gw, tr)
			raw := `{"type":"CANCEL_EVERYTHING","request_id":"x","extra":[1]}`
			if err := gw.Send(&protocol.Unknown{Type: "CANCEL_EVERYTHING", Raw: json.RawMessage(raw)}); err != nil {
				t.Fatal(err)
			}
			if e := c.next(t); string(e.raw) != raw {
				t.Errorf("unknown frame = %s", e.raw)
			}
			rawFrame := `{"type":"RESULT_ACK"}`
			if tr == TransportSSE {
				rawFrame = "id: 7\r\nevent: message\r\ndata: {\"type\":\"RESULT_ACK\"}\n\n"
			}
			if err := gw.SendRaw([]byte(rawFrame)); err != nil {
				t.Fatal(err)
			}
			if a, ok := c.next(t).msg.(*protocol.ResultAck); !ok || a.RequestID != "" {
				t.Errorf("raw RESULT_ACK = %#v", a)
			}
			if tr == TransportSSE {
				gw.SetResultAckWithoutID(true)
				job, _ := gw.Infer(ctx, protocol.InferencePayload{Model: "m", Messages: json.RawMessage(`[]`)})
				expect(t, c, protocol.TypeInferenceRequest)
				c.send(t, &protocol.InferenceError{RequestID: job.ID, Error: "x"})
				e := expect(t, c, protocol.TypeResultAck)
				if string(e.raw) != `{"type":"RESULT_ACK"}` {
					t.Errorf("ack = %s", e.raw)
				}
			}
			if s := gw.Sent(); s[len(s)-1].Type == "" {
				t.Errorf("sent record %+v", s[len(s)-1])
			}
		})
	}
}

func TestSplitWrites(t *testing.T) {
	pts := splitPoints([]byte("event: message\ndata: {\"d\":\"é✓\"}\n\n"))
	frame := []byte("event: message\ndata: {\"d\":\"é✓\"}\n\n")
	mid := bytes.IndexRune(frame, 'é') + 1
	if !slices.Contains(pts, mid) || !slices.Contains(pts, len(frame)-1) || !slices.Contains(pts, 1) {
		t.Errorf("split points %v (mid-rune %d, len %d)", pts, mid, len(frame))
	}
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			gw := New(t, Options{SplitWrites: true})
			ctx := testCtx(t)
			c := connect(t, gw, tr)
			msgs := json.RawMessage(`[{"role":"user","content":"héllo ✓ 日本語 🎉"}]`)
			job, err := gw.Infer(ctx, protocol.InferencePayload{Model: "m", Messages: msgs})
			if err != nil {
				t.Fatal(err)
			}
			req := expect(t, c, protocol.TypeInferenceRequest).msg.(*protocol.InferenceRequest)
			var p protocol.InferencePayload
			if err := json.Unmarshal(req.Payload, &p); err != nil || string(p.Messages) != string(msgs) || req.RequestID != job.ID {
				t.Errorf("payload after split writes: %s", req.Payload)
			}
		})
	}
}

func TestAcceptDelay(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			gw := New(t, Options{AcceptDelay: 60 * time.Millisecond})
			c := connect(t, gw, tr)
			start := time.Now()
			c.send(t, &protocol.Heartbeat{})
			if tr == TransportWS {
				expect(t, c, protocol.TypeHeartbeatAck)
			}
			if d := time.Since(start); d < 60*time.Millisecond {
				t.Errorf("heartbeat accepted after %v", d)
			}
			gw.SetAcceptDelay(0)
			start = time.Now()
			c.send(t, &protocol.Heartbeat{})
			if tr == TransportWS {
				expect(t, c, protocol.TypeHeartbeatAck)
			}
			if d := time.Since(start); d >= 60*time.Millisecond {
				t.Errorf("no-delay heartbeat took %v", d)
			}
		})
	}
}

func TestFailHeartbeats(t *testing.T) {
	gw := New(t, Options{})
	c, _ := connectSSE(t, gw, DefaultClientID, DefaultSecret)
	gw.FailHeartbeats(http.StatusServiceUnavailable)
	if st, _ := c.post(t, "heartbeat", []byte("{}"), nil); st != 503 {
		t.Errorf("status %d", st)
	}
	if gw.Heartbeats() != 0 {
		t.Error("refused heartbeat counted")
	}
	gw.FailHeartbeats(0)
	c.mustPost(t, "heartbeat", []byte("{}"))
}

// fakeClock is an injectable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLiveness(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			clk := &fakeClock{t: time.Now()}
			gw := New(t, Options{Now: clk.Now})
			var c client
			if tr == TransportWS {
				c = dialWS(t, gw, DefaultClientID, DefaultSecret, clk.Now())
				expect(t, c, protocol.TypeAuthSuccess)
			} else {
				sc, _ := connectSSE(t, gw, DefaultClientID, DefaultSecret)
				sc.now = clk.Now
				c = sc
			}
			if !gw.Online() {
				t.Fatal("not online after connect")
			}
			clk.Add(61 * time.Second) // no heartbeat since connect
			if gw.Online() {
				t.Error("online 61 s after connect without heartbeat")
			}
			c.send(t, &protocol.Heartbeat{})
			if tr == TransportWS {
				expect(t, c, protocol.TypeHeartbeatAck)
			}
			if !gw.Online() || !gw.LastHeartbeat().Equal(clk.Now()) {
				t.Errorf("online %v last %v", gw.Online(), gw.LastHeartbeat())
			}
			clk.Add(60 * time.Second)
			if !gw.Online() {
				t.Error("offline at exactly 60 s")
			}
			clk.Add(time.Second)
			if gw.Online() {
				t.Error("online at 61 s")
			}
		})
	}
}

func TestSecretLeakDetected(t *testing.T) {
	g := NewGateway(Options{})
	srv := httptest.NewServer(g)
	defer srv.Close()
	defer g.Close()
	g.SetBaseURL(srv.URL)
	c := dialWS(t, g, DefaultClientID, DefaultSecret, time.Now())
	expect(t, c, protocol.TypeAuthSuccess)
	if g.SecretLeaked() {
		t.Fatal("leak reported for a clean session")
	}
	c.send(t, &protocol.InferenceError{RequestID: "r", Error: "config: apiSecret " + DefaultSecret + " invalid"})
	if err := g.Wait(testCtx(t), g.SecretLeaked); err != nil {
		t.Fatal(err)
	}
	// The records and logs never hold the gateway's own copy of the secret in any other
	// way than what the client sent: sent frames carry no secret.
	for _, f := range g.Sent() {
		if bytes.Contains(f.Body, []byte(DefaultSecret)) {
			t.Errorf("sent frame has the secret: %s", f.Body)
		}
	}
}

func TestLogsNeverHoldSecret(t *testing.T) {
	var buf syncBuffer
	gw := New(t, Options{Logger: newTextLogger(&buf)})
	c := connect(t, gw, TransportSSE)
	register(t, c, "A", "m")
	dialWS(t, gw, DefaultClientID, "pin_sk_wrong", time.Now()).next(t)
	gw.Close()
	if strings.Contains(buf.String(), DefaultSecret) || strings.Contains(buf.String(), "pin_sk_wrong") {
		t.Errorf("log has a secret:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "auth rejected") || !strings.Contains(buf.String(), "node registered") {
		t.Errorf("log lacks events:\n%s", buf.String())
	}
}

func TestMoreOperators(t *testing.T) {
	gw := New(t, Options{MoreOperators: []Credentials{{"op_two", "pin_sk_two"}}})
	c := dialWS(t, gw, "op_two", "pin_sk_two", time.Now())
	expect(t, c, protocol.TypeAuthSuccess)
	two := gw.OperatorFor("op_two")
	if err := two.WaitOnline(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if gw.Connected() || len(gw.Operators()) != 2 || two.ClientID() != "op_two" {
		t.Error("operators mixed up")
	}
	if err := two.Send(&protocol.Ping{}); err != nil {
		t.Fatal(err)
	}
	expect(t, c, protocol.TypePing)
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	gw := New(t, Options{PingInterval: time.Hour, KeepaliveInterval: time.Hour})
	ws := connect(t, gw, TransportWS)
	sse := connect(t, gw, TransportSSE)
	gw.Close()
	ws.ended(t)
	sse.ended(t)
	gw.Close() // idempotent
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "pintest.(*Gateway)") || strings.Contains(g, "pintest.(*session)") {
			t.Errorf("goroutine left after Close:\n%s", g)
		}
	}
	if _, err := gw.Infer(testCtx(t), protocol.InferencePayload{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Infer after Close = %v", err)
	}
	if err := gw.WaitOnline(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitOnline after Close = %v", err)
	}
}

func TestConcurrentJobs(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			gw := New(t, Options{})
			ctx := testCtx(t)
			c := connect(t, gw, tr)
			const n = 20
			var wg sync.WaitGroup
			jobs := make(chan *Job, n)
			for range n {
				wg.Go(func() {
					j, err := gw.Infer(ctx, protocol.InferencePayload{Model: "m", Messages: json.RawMessage(`[]`), Stream: true})
					if err != nil {
						t.Error(err)
						return
					}
					jobs <- j
				})
			}
			wg.Wait()
			close(jobs)
			for range n {
				r := expect(t, c, protocol.TypeInferenceRequest).msg.(*protocol.InferenceRequest)
				c.send(t, &protocol.InferenceChunk{RequestID: r.RequestID, Delta: "a", Kind: KindContent})
				c.send(t, &protocol.InferenceResponse{RequestID: r.RequestID, Result: json.RawMessage(`{"choices":[{"index":0,"message":{"role":"assistant","content":"a"},"finish_reason":"stop"}],"usage":null,"model":"m"}`)})
			}
			for j := range jobs {
				var streamed []string
				res, err := j.Stream(ctx, func(c Chunk) error { streamed = append(streamed, c.Delta); return nil })
				if err != nil || !res.OK() || !reflect.DeepEqual(streamed, []string{"a"}) || gw.Terminals(j.ID) != 1 {
					t.Errorf("job %s: %v %v %v", j.ID, res, err, streamed)
				}
			}
			if u := gw.Usage(); u.Requests != n || u.TotalTokens != 0 {
				t.Errorf("usage %+v", u)
			}
		})
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func TestMsgType(t *testing.T) {
	for in, want := range map[string]string{
		`{"type":"HEARTBEAT"}`:          "HEARTBEAT",
		`{"x":1,"type":"PONG"}`:         "PONG",
		`{"type":"A\"B","x":2}`:         `A"B`,
		`{"type":"RESULT_ACK","a":"b"}`: "RESULT_ACK",
		`not json`:                      "",
		`{"type":5}`:                    "",
	} {
		if got := msgType([]byte(in)); got != want {
			t.Errorf("msgType(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestDropAllAndSessionRecords(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			gw := New(t, Options{})
			ctx := testCtx(t)
			c := connect(t, gw, tr)
			register(t, c, "A", "m")
			id := gw.SessionID()
			if id == 0 {
				t.Fatal("SessionID = 0 while connected")
			}
			j, err := gw.Infer(ctx, protocol.InferencePayload{Model: "m"})
			if err != nil {
				t.Fatal(err)
			}
			if j.Session() != id {
				t.Errorf("job session = %d, want %d", j.Session(), id)
			}
			if ended, _, _ := gw.SessionEnded(id); ended {
				t.Error("SessionEnded while open")
			}
			if n := gw.DropAll(); n != 1 {
				t.Errorf("DropAll cut %d sessions, want 1", n)
			}
			c.ended(t)
			if err := gw.Wait(ctx, func() bool { return len(gw.EndedSessions()) == 1 }); err != nil {
				t.Fatal(err)
			}
			rec := gw.EndedSessions()[0]
			if rec.ID != id || rec.EndedBy != EndedByGateway || rec.Unanswered != 1 || rec.Transport != tr {
				t.Errorf("record after DropAll = %+v, want session %d ended by gateway, 1 unanswered", rec, id)
			}
			if ended, by, _ := gw.SessionEnded(id); !ended || by != EndedByGateway {
				t.Errorf("SessionEnded = %v %q", ended, by)
			}
			if gw.SessionID() != 0 {
				t.Error("SessionID != 0 with no session")
			}

			c2 := connect(t, gw, tr)
			if err := gw.WaitSessions(ctx, 2); err != nil {
				t.Fatal(err)
			}
			id2 := gw.SessionID()
			c2.close()
			if err := gw.Wait(ctx, func() bool { return len(gw.EndedSessions()) == 2 }); err != nil {
				t.Fatal(err)
			}
			if rec := gw.EndedSessions()[1]; rec.ID != id2 || rec.EndedBy != EndedByClient || rec.Unanswered != 0 {
				t.Errorf("record after the client closed = %+v, want session %d ended by client", rec, id2)
			}
		})
	}
}
