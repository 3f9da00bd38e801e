package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pin-client/pin-client/core/protocol"
)

func TestHTTPBase(t *testing.T) {
	for in, want := range map[string]string{
		"wss://aiassist.net/api/v1/pin/ws":   "https://aiassist.net/api/v1/pin",
		"ws://127.0.0.1:8080/api/v1/pin/ws/": "http://127.0.0.1:8080/api/v1/pin",
		"ws://h/api/v1/pin/ws/ws":            "http://h/api/v1/pin",
		"https://h/api/v1/pin":               "https://h/api/v1/pin",
	} {
		if got := HTTPBase(in); got != want {
			t.Errorf("HTTPBase(%q) = %q, want %q", in, got, want)
		}
	}
	if got := WSURL("https://h/api/v1/pin/ws"); got != "wss://h/api/v1/pin/ws" {
		t.Errorf("WSURL = %q", got)
	}
}

func TestFramePayload(t *testing.T) {
	for in, want := range map[string]string{
		"event: message\ndata: {\"a\":1}":      `{"a":1}`,
		"data: a\r\ndata: b\r":                 "a\nb",
		"event: PING":                          "PING",
		": keepalive":                          "",
		"id: 3\nretry: 10\ndata:x":             "",
		"event: message\ndata: {}\nid: 7\n: c": "{}",
	} {
		if got := string(framePayload([]byte(in))); got != want {
			t.Errorf("framePayload(%q) = %q, want %q", in, got, want)
		}
	}
}

// A downlink split at every byte boundary (including inside multibyte characters)
// yields the same events as one read (G8, L16).
func TestDownlinkSplitAnywhere(t *testing.T) {
	stream := "event: message\ndata: {\"type\":\"AUTH_SUCCESS\",\"operator_id\":\"op\"}\n\n: keepalive\n\n" +
		"event: message\ndata: {\"type\":\"INFERENCE_REQUEST\",\"request_id\":\"r1\",\"payload\":{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"héllo ✓ 日本\"}]}}\n\n"
	parse := func(r io.Reader) []string {
		var out []string
		fr := newFrameReader(r, maxFrame)
		for {
			frame, err := fr.Next()
			if err != nil {
				return out
			}
			if p := framePayload(frame); p != nil {
				out = append(out, string(p))
			}
		}
	}
	want := parse(strings.NewReader(stream))
	if len(want) != 2 {
		t.Fatalf("events = %q", want)
	}
	for i := 1; i < len(stream); i++ {
		r := iotest.OneByteReader(strings.NewReader(stream))
		if i > 1 {
			r = &splitReader{s: stream, at: i}
		}
		got := parse(r)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("split at %d: %q", i, got)
		}
	}
	m, err := decodeDownlink([]byte(want[1]))
	if err != nil || !strings.Contains(string(m.(*protocol.InferenceRequest).Payload), "héllo ✓ 日本") {
		t.Fatalf("decode: %v %v", m, err)
	}
}

type splitReader struct {
	s  string
	at int
	n  int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if r.n >= len(r.s) {
		return 0, errEOF
	}
	end := len(r.s)
	if r.n < r.at {
		end = r.at
	}
	k := copy(p, r.s[r.n:end])
	r.n += k
	return k, nil
}

var errEOF = io.EOF

func TestDecodeDownlinkKeepsRequestIDOfBadJob(t *testing.T) {
	m, err := decodeDownlink([]byte(`{"type":"INFERENCE_REQUEST","request_id":"r9","payload":5,"extra":{"x":[1]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := m.(*protocol.InferenceRequest); !ok || r.RequestID != "r9" {
		t.Fatalf("got %#v", m)
	}
	if _, err := decodeDownlink([]byte(`{"type":"INFERENCE_REQUEST","request_id":7}`)); err == nil {
		t.Fatal("a request without a usable id must be an error (nothing to answer)")
	}
	m, err = decodeDownlink([]byte(`{"type":"SOMETHING_NEW","x":1}`))
	if u, ok := m.(*protocol.Unknown); err != nil || !ok || u.Type != "SOMETHING_NEW" {
		t.Fatalf("unknown type: %#v %v", m, err)
	}
}

func chunk(id, kind, d string, i int) *protocol.InferenceChunk {
	return &protocol.InferenceChunk{RequestID: id, Kind: kind, Delta: d, Index: i}
}

func TestCoalesce(t *testing.T) {
	big := strings.Repeat("x", MaxCoalesce-1)
	in := []protocol.Message{
		chunk("a", "thinking", "t1", 0), chunk("a", "thinking", "t2", 1),
		chunk("a", "content", "c1", 2), chunk("b", "content", "B", 0), chunk("a", "content", "c2", 3),
		chunk("a", "content", "c3", 4),
		&protocol.InferenceResponse{RequestID: "a", Result: json.RawMessage(`{}`)},
		chunk("c", "content", big, 0), chunk("c", "content", "yy", 1), chunk("c", "content", "z", 2),
		chunk("d", "thinking", "x", 0), chunk("d", "content", "y", 1), chunk("d", "thinking", "z", 2),
		&protocol.InferenceError{RequestID: "d", Error: "x"}, chunk("d", "content", "late", 3),
	}
	perRequest := func(ms []protocol.Message) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			if c, ok := m.(*protocol.InferenceChunk); ok {
				out[c.RequestID+"/"+c.Kind] += c.Delta
			}
		}
		return out
	}
	inText := perRequest(in)
	orig := append([]protocol.Message(nil), in...)
	out := coalesce(in)
	var got []string
	for _, m := range out {
		if c, ok := m.(*protocol.InferenceChunk); ok {
			d := c.Delta
			if len(d) > 10 {
				d = "BIG"
			}
			got = append(got, c.RequestID+":"+c.Kind+":"+d+":"+string(rune('0'+c.Index)))
		} else {
			got = append(got, m.MsgType())
		}
	}
	// a's content merges across b's chunk (the gateway orders per request); nothing
	// merges across a kind change, across the request's own result, or past 32 KiB
	want := "a:thinking:t1t2:0 a:content:c1c2c3:2 b:content:B:0 INFERENCE_RESPONSE c:content:BIG:0 c:content:yyz:1 d:thinking:x:0 d:content:y:1 d:thinking:z:2 INFERENCE_ERROR d:content:late:3"
	if strings.Join(got, " ") != want {
		t.Fatalf("coalesced:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if orig[1].(*protocol.InferenceChunk).Delta != "t2" {
		t.Fatal("coalesce modified a queued message")
	}
	// each request's deltas, in order, are exactly what went in
	if got := perRequest(out); fmt.Sprint(got) != fmt.Sprint(inText) {
		t.Fatal("coalescing changed a request's text")
	}
}

func TestUplinkBodies(t *testing.T) {
	for _, tc := range []struct {
		m    protocol.Message
		path string
		body string
	}{
		{chunk("r", "", "Hel", 0), "/stream/chunk", `{"request_id":"r","index":0,"delta":"Hel","kind":"content"}`},
		{&protocol.InferenceResponse{RequestID: "r", Result: json.RawMessage(`{"choices":[],"usage":null,"model":"m"}`)}, "/stream/result",
			`{"request_id":"r","result":{"choices":[],"usage":null,"model":"m"}}`},
		{&protocol.InferenceError{RequestID: "r", Error: "x"}, "/stream/result", `{"request_id":"r","result":{"error":"x"}}`},
		{&protocol.TTSError{RequestID: "t", Error: "x"}, "/stream/result", `{"request_id":"t","result":{"error":"x"}}`},
		{&protocol.TTSResponse{RequestID: "t", Result: protocol.TTSResult{Model: "m", Voice: "v", Format: "wav", ContentType: "audio/wav", Bytes: 1, AudioB64: "AA=="}}, "/stream/result",
			`{"request_id":"t","result":{"model":"m","voice":"v","format":"wav","content_type":"audio/wav","bytes":1,"audio_b64":"AA=="}}`},
		{&protocol.InterviewResult{InterviewID: "i", Model: "m", Results: []protocol.PromptResult{{PromptID: "p"}}}, "/stream/result",
			`{"request_id":"","result":{"interview_id":"i","model":"m","results":[{"prompt_id":"p","response":"","ttft_ms":0,"total_ms":0,"tokens_generated":0}]}}`},
	} {
		path, body, err := uplinkBody(tc.m)
		if err != nil || path != tc.path || string(body) != tc.body {
			t.Errorf("%s: %s %s %v\nwant %s %s", tc.m.MsgType(), path, body, err, tc.path, tc.body)
		}
	}
	if _, _, err := uplinkBody(&protocol.Heartbeat{}); err == nil {
		t.Error("HEARTBEAT on the uplink must be refused")
	}
}

func TestOutQueueControlFirst(t *testing.T) {
	q := newOutQueue()
	q.push(chunk("a", "content", "1", 0), false)
	q.push(chunk("a", "content", "2", 1), false)
	q.push(&protocol.Heartbeat{}, true)
	var order []string
	for {
		m, ok := q.popControl()
		if !ok || m == nil {
			break
		}
		order = append(order, m.MsgType())
	}
	data, _ := q.takeData(nil)
	for _, m := range data {
		order = append(order, m.MsgType())
	}
	if strings.Join(order, ",") != "HEARTBEAT,INFERENCE_CHUNK,INFERENCE_CHUNK" {
		t.Fatalf("order %v", order)
	}
	q.close()
	if err := q.push(&protocol.Heartbeat{}, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("push after close = %v", err)
	}
}

func TestFlushWaitsForWritesAndReportsLoss(t *testing.T) {
	q := newOutQueue()
	if err := q.flush(context.Background()); err != nil {
		t.Fatalf("empty queue: %v", err)
	}
	q.push(chunk("a", "content", "1", 0), false)
	done := make(chan error, 1)
	go func() { done <- q.flush(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("flush returned %v with a message pending", err)
	default:
	}
	data, _ := q.takeData(nil)
	q.written(len(data))
	if err := <-done; err != nil {
		t.Fatalf("flush after the write: %v", err)
	}
	q.push(chunk("a", "content", "2", 1), false)
	go func() { done <- q.flush(context.Background()) }()
	q.close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("flush of a queue closed with data pending = %v, want ErrClosed", err)
	}
}
