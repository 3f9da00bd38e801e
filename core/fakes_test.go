package core

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/core/transport"
	"github.com/pin-client/pin-client/internal/config"
)

// fakeConn is an in-memory transport.Conn: channels only, so it is durably blocking
// inside a synctest bubble.
type fakeConn struct {
	kind string
	in   chan protocol.Message

	mu         sync.Mutex
	sent       []protocol.Message
	regs       []protocol.RegisterNode
	heartbeats int
	hbErr      error // when set, Heartbeat fails with it
	adverts    [][]string
	wallet     string
	closed     bool
	done       chan struct{}
	endErr     error
	refuse     func(protocol.Message) error // guarded by mu: Send's answer to a message (nil: take it)
}

func newFakeConn(kind string) *fakeConn {
	return &fakeConn{kind: kind, in: make(chan protocol.Message, 16), done: make(chan struct{})}
}

func (c *fakeConn) Transport() string { return c.kind }

func (c *fakeConn) Recv(ctx context.Context) (protocol.Message, error) {
	select {
	case m := <-c.in:
		return m, nil
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.endErr != nil {
			return nil, c.endErr
		}
		return nil, transport.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *fakeConn) Register(_ context.Context, n protocol.RegisterNode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.regs = append(c.regs, n)
	return nil
}

func (c *fakeConn) Heartbeat(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return transport.ErrClosed
	}
	if c.hbErr != nil {
		return c.hbErr
	}
	c.heartbeats++
	return nil
}

func (c *fakeConn) failHeartbeats(err error) {
	c.mu.Lock()
	c.hbErr = err
	c.mu.Unlock()
}

func (c *fakeConn) AdvertiseModels(_ context.Context, m []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.adverts = append(c.adverts, m)
	return nil
}

func (c *fakeConn) UpdateWallet(_ context.Context, a string) error {
	if c.kind == transport.SSE {
		return transport.ErrUnsupported
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wallet = a
	return nil
}

func (c *fakeConn) Send(m protocol.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return transport.ErrClosed
	}
	if c.refuse != nil {
		if err := c.refuse(m); err != nil {
			return err
		}
	}
	c.sent = append(c.sent, m)
	return nil
}

// drop ends the link from the gateway side with err.
func (c *fakeConn) drop(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed, c.endErr = true, err
		close(c.done)
	}
}

func (c *fakeConn) Close() error { c.drop(nil); return nil }

func (c *fakeConn) Flush(context.Context) error { return nil }

func (c *fakeConn) snapshot() (sent []protocol.Message, regs []protocol.RegisterNode, hb int, adverts [][]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]protocol.Message(nil), c.sent...), append([]protocol.RegisterNode(nil), c.regs...), c.heartbeats, append([][]string(nil), c.adverts...)
}

// terminals returns the terminal answers sent for id.
func (c *fakeConn) terminals(id string) []protocol.Message {
	sent, _, _, _ := c.snapshot()
	var out []protocol.Message
	for _, m := range sent {
		switch m := m.(type) {
		case *protocol.InferenceResponse:
			if m.RequestID == id {
				out = append(out, m)
			}
		case *protocol.InferenceError:
			if m.RequestID == id {
				out = append(out, m)
			}
		case *protocol.TTSResponse:
			if m.RequestID == id {
				out = append(out, m)
			}
		case *protocol.TTSError:
			if m.RequestID == id {
				out = append(out, m)
			}
		}
	}
	return out
}

// dialer hands out fake conns (or errors) in order and records the transports asked for.
type dialer struct {
	mu     sync.Mutex
	script []func(kind string) (transport.Conn, error)
	kinds  []string
	conns  chan *fakeConn
}

func newDialer() *dialer { return &dialer{conns: make(chan *fakeConn, 16)} }

func (d *dialer) then(f func(kind string) (transport.Conn, error)) *dialer {
	d.script = append(d.script, f)
	return d
}

func (d *dialer) ok() *dialer {
	return d.then(func(kind string) (transport.Conn, error) {
		c := newFakeConn(kind)
		d.conns <- c
		return c, nil
	})
}

func (d *dialer) fail(err error) *dialer {
	return d.then(func(string) (transport.Conn, error) { return nil, err })
}

func (d *dialer) dial(ctx context.Context, kind string, _ transport.Options) (transport.Conn, error) {
	d.mu.Lock()
	d.kinds = append(d.kinds, kind)
	var f func(string) (transport.Conn, error)
	if len(d.script) > 0 {
		f, d.script = d.script[0], d.script[1:]
	}
	d.mu.Unlock()
	if f == nil { // script exhausted: block until cancelled
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f(kind)
}

func (d *dialer) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.kinds...)
}

// fakeBackend is an in-memory backends.Backend. Calls block on gate when it is set.
type fakeBackend struct {
	mu     sync.Mutex
	models []string
	deltas []backends.Delta
	usage  backends.Usage
	err    error
	gate   chan struct{} // when non-nil, each call waits for a receive-able value
	// hangModels, when set, makes Models block until its context ends (a hung backend).
	hangModels bool
	calls      int
	reqs       []*backends.ChatRequest
}

func (b *fakeBackend) Models(ctx context.Context) ([]string, error) {
	b.mu.Lock()
	if b.hangModels {
		b.mu.Unlock()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	defer b.mu.Unlock()
	if b.err != nil && b.models == nil {
		return nil, b.err
	}
	return append([]string(nil), b.models...), nil
}

func (b *fakeBackend) setModels(m ...string) {
	b.mu.Lock()
	b.models = m
	b.mu.Unlock()
}

func (b *fakeBackend) wait(ctx context.Context, req *backends.ChatRequest) error {
	b.mu.Lock()
	b.calls++
	b.reqs = append(b.reqs, req)
	gate := b.gate
	b.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (b *fakeBackend) result() *backends.ChatResult {
	var text, think string
	for _, d := range b.deltas {
		if d.Kind == backends.KindThinking {
			think += d.Text
		} else {
			text += d.Text
		}
	}
	u := b.usage
	return &backends.ChatResult{
		Choices: []backends.Choice{{Message: backends.Message{Role: "assistant", Content: text, Thinking: think}, FinishReason: "stop"}},
		Usage:   &u, Model: "m",
	}
}

func (b *fakeBackend) Chat(ctx context.Context, req *backends.ChatRequest) (*backends.ChatResult, error) {
	if err := b.wait(ctx, req); err != nil {
		return nil, err
	}
	if b.err != nil {
		return nil, b.err
	}
	return b.result(), nil
}

func (b *fakeBackend) ChatStream(ctx context.Context, req *backends.ChatRequest, on func(backends.Delta) error) (*backends.ChatResult, error) {
	if err := b.wait(ctx, req); err != nil {
		return nil, err
	}
	if b.err != nil {
		return nil, b.err
	}
	for _, d := range b.deltas {
		if err := on(d); err != nil {
			return nil, err
		}
	}
	return b.result(), nil
}

func (b *fakeBackend) callCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

type fakeSpeaker struct{ audio []byte }

func (s fakeSpeaker) Speech(context.Context, *backends.SpeechRequest) (*backends.Speech, error) {
	return &backends.Speech{Audio: s.audio, ContentType: "audio/wav"}, nil
}

// testConfig is a validated config with the given nodes.
func testConfig(t *testing.T, nodes ...config.Node) *config.Config {
	t.Helper()
	c := &config.Config{ClientID: "op_test", APISecret: "pin_sk_test_fake", ServerURL: "ws://127.0.0.1:1/api/v1/pin/ws", Nodes: nodes}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func testNode(alias string) config.Node {
	return config.Node{Alias: alias, InferenceURI: "http://127.0.0.1:11434", APIMode: "ollama", Region: "us-east", Capacity: 2}
}

func inferReq(id string, p any) *protocol.InferenceRequest {
	b, _ := json.Marshal(p)
	return &protocol.InferenceRequest{RequestID: id, Payload: b}
}

var errBoom = errors.New("boom")
