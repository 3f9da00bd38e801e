package pintest

// Minimal hand-rolled operator clients (raw WebSocket + AUTH, raw SSE GET + POSTs), so
// the fake gateway is tested without the engine.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pin-client/pin-client/core/protocol"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// event is one decoded downlink message with its raw JSON.
type event struct {
	msg protocol.Message
	raw []byte
}

// client is either transport, as seen by a test.
type client interface {
	send(t testing.TB, m protocol.Message) // WS frame, or the SSE POST equivalent (§4.4)
	trySend(m protocol.Message) error      // the same, for goroutines
	evs() <-chan event
	doneCh() <-chan struct{}
	next(t testing.TB) event  // next downlink message (fails the test on end)
	ended(t testing.TB) error // waits for the downlink to end; its error
	close()
}

// expect reads downlink messages until one of type typ arrives (others are skipped).
func expect(t testing.TB, c client, typ string) event {
	t.Helper()
	for {
		e := c.next(t)
		if e.msg.MsgType() == typ {
			return e
		}
	}
}

// ---- WebSocket ----

// downlink is what both test clients receive: decoded events until the link ends.
type downlink struct {
	name   string // "ws" or "sse", for failure messages
	events chan event
	done   chan struct{}
	err    error // read error that ended the loop; valid after done
}

func newDownlink(name string) downlink {
	return downlink{name: name, events: make(chan event, 256), done: make(chan struct{})}
}

func (d *downlink) evs() <-chan event       { return d.events }
func (d *downlink) doneCh() <-chan struct{} { return d.done }

func (d *downlink) next(t testing.TB) event {
	t.Helper()
	select {
	case e := <-d.events:
		return e
	case <-d.done:
		select {
		case e := <-d.events:
			return e
		default:
		}
		t.Fatalf("%s downlink ended: %v", d.name, d.err)
	case <-time.After(10 * time.Second):
		t.Fatalf("timeout waiting for a %s frame", d.name)
	}
	return event{}
}

type wsClient struct {
	wmu  sync.Mutex // one writer (the reader goroutine answers PINGs)
	conn *websocket.Conn
	downlink
	// answerPings: reply to JSON PING with PONG (the protocol Pong is gorilla's default).
	answerPings bool
}

func dialWS(t testing.TB, gw *Gateway, clientID, secret string, now time.Time) *wsClient {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(gw.URL(), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	c := &wsClient{conn: conn, downlink: newDownlink("ws"), answerPings: true}
	ts, sig := protocol.Sign(clientID, protocol.NewSecret(secret), now)
	b, _ := protocol.Encode(&protocol.Auth{ClientID: clientID, Timestamp: ts, Signature: sig})
	if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatalf("write auth: %v", err)
	}
	go c.read()
	t.Cleanup(c.close)
	return c
}

func (c *wsClient) read() {
	defer close(c.done)
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		m, err := protocol.Decode(data)
		if err != nil {
			continue
		}
		if _, ok := m.(*protocol.Ping); ok && c.answerPings {
			b, _ := protocol.Encode(&protocol.Pong{})
			c.wmu.Lock()
			_ = c.conn.WriteMessage(websocket.TextMessage, b)
			c.wmu.Unlock()
		}
		c.events <- event{m, data}
	}
}

func (c *wsClient) send(t testing.TB, m protocol.Message) {
	t.Helper()
	if err := c.trySend(m); err != nil {
		t.Fatal(err)
	}
}

func (c *wsClient) trySend(m protocol.Message) error {
	b, err := protocol.Encode(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.conn.WriteMessage(websocket.TextMessage, b)
}

func (c *wsClient) sendRaw(t testing.TB, b []byte) {
	t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatalf("ws write: %v", err)
	}
}

func (c *wsClient) ended(t testing.TB) error {
	t.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(10 * time.Second):
		t.Fatal("ws connection did not end")
	}
	return nil
}

func (c *wsClient) close() { _ = c.conn.Close(); <-c.done }

// ---- SSE ----

type sseClient struct {
	base, clientID, secret string
	now                    func() time.Time
	token                  string
	resp                   *http.Response
	hc                     *http.Client
	downlink
}

func sign(req *http.Request, clientID, secret string, now time.Time) {
	ts, sig := protocol.Sign(clientID, protocol.NewSecret(secret), now)
	req.Header.Set(HeaderClientID, clientID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, sig)
}

// connectSSE does GET stream/connect; it returns the response for a non-2xx answer.
func connectSSE(t testing.TB, gw *Gateway, clientID, secret string) (*sseClient, *http.Response) {
	t.Helper()
	c := &sseClient{base: gw.SSEBase(), clientID: clientID, secret: secret, now: time.Now,
		downlink: newDownlink("sse"), hc: &http.Client{}}
	req, _ := http.NewRequest(http.MethodGet, c.base+"/stream/connect", nil)
	req.Header.Set("Accept", "text/event-stream")
	sign(req, clientID, secret, time.Now())
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil, resp
	}
	c.resp, c.token = resp, resp.Header.Get(HeaderStreamToken)
	go c.read()
	t.Cleanup(c.close)
	return c, resp
}

// read parses the downlink as §2.3 says a client must: frames split at LF LF, bytes
// buffered across reads, "data: " lines joined, comments ignored.
func (c *sseClient) read() {
	defer close(c.done)
	br := bufio.NewReader(c.resp.Body)
	var buf []byte
	for {
		chunk := make([]byte, 512)
		n, err := br.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			i := bytes.Index(buf, []byte("\n\n"))
			if i < 0 {
				break
			}
			frame := buf[:i]
			buf = buf[i+2:]
			var data []string
			for _, line := range strings.Split(string(frame), "\n") {
				line = strings.TrimSuffix(line, "\r")
				if d, ok := strings.CutPrefix(line, "data: "); ok {
					data = append(data, d)
				}
			}
			if len(data) == 0 {
				continue
			}
			raw := []byte(strings.Join(data, "\n"))
			if m, err := protocol.Decode(raw); err == nil {
				c.events <- event{m, raw}
			}
		}
		if err != nil {
			c.err = err
			return
		}
	}
}

// post sends a signed POST with the stream token; body nil sends no body and no
// Content-Type.
func (c *sseClient) post(t testing.TB, path string, body []byte, hdr map[string]string) (int, string) {
	t.Helper()
	st, msg, err := c.tryPost(path, body, hdr)
	if err != nil {
		t.Fatalf("post %s: %v", path, err)
	}
	return st, msg
}

func (c *sseClient) tryPost(path string, body []byte, hdr map[string]string) (int, string, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(http.MethodPost, c.base+"/stream/"+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	sign(req, c.clientID, c.secret, c.now())
	req.Header.Set(HeaderStreamToken, c.token)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func (c *sseClient) mustPost(t testing.TB, path string, body []byte) {
	t.Helper()
	if st, msg := c.post(t, path, body, nil); st != http.StatusOK {
		t.Fatalf("POST %s = %d %s", path, st, msg)
	}
}

func (c *sseClient) send(t testing.TB, m protocol.Message) {
	t.Helper()
	if err := c.trySend(m); err != nil {
		t.Fatal(err)
	}
}

// trySend maps a message to its SSE POST (§4.4).
func (c *sseClient) trySend(m protocol.Message) error {
	var path string
	var body []byte
	var hdr map[string]string
	switch m := m.(type) {
	case *protocol.RegisterNode:
		path, body = "register", mustJSON(m)
	case *protocol.Heartbeat:
		path, body = "heartbeat", []byte("{}")
	case *protocol.ModelList:
		path, hdr = "heartbeat", map[string]string{HeaderModels: strings.Join(m.Models, ",")}
	case *protocol.InferenceChunk:
		path, body = "chunk", mustJSON(m)
	default:
		env, err := protocol.Encode(m)
		if err != nil {
			return err
		}
		var rid struct {
			RequestID string `json:"request_id"`
		}
		_ = json.Unmarshal(env, &rid)
		path, body = "result", mustJSON(map[string]json.RawMessage{"request_id": mustJSON(rid.RequestID), "result": payloadOf(env)})
	}
	st, msg, err := c.tryPost(path, body, hdr)
	if err != nil {
		return err
	}
	if st != http.StatusOK {
		return fmt.Errorf("POST %s = %d %s", path, st, msg)
	}
	return nil
}

func (c *sseClient) ended(t testing.TB) error {
	t.Helper()
	select {
	case <-c.done:
		if errors.Is(c.err, io.EOF) {
			return nil
		}
		return c.err
	case <-time.After(10 * time.Second):
		t.Fatal("sse stream did not end")
	}
	return nil
}

func (c *sseClient) close() {
	if c.resp != nil {
		c.resp.Body.Close()
		<-c.done
	}
	c.hc.CloseIdleConnections()
}

// connect authenticates on either transport and consumes AUTH_SUCCESS.
func connect(t testing.TB, gw *Gateway, transport string) client {
	t.Helper()
	if transport == TransportWS {
		c := dialWS(t, gw, DefaultClientID, DefaultSecret, time.Now())
		expect(t, c, protocol.TypeAuthSuccess)
		return c
	}
	c, resp := connectSSE(t, gw, DefaultClientID, DefaultSecret)
	if c == nil {
		t.Fatalf("connect: %s", resp.Status)
	}
	expect(t, c, protocol.TypeAuthSuccess)
	return c
}

var transports = []string{TransportWS, TransportSSE}
