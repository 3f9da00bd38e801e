package backendtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// Client returns an http.Client whose requests are served in memory by h: no sockets,
// and every goroutine and channel involved is started by the caller, so it works inside
// a testing/synctest bubble (fake time then advances while the handler waits on a
// timer). Cancelling a request's context cancels the handler's context and fails the
// body read at once; closing the response body early does the same, as a disconnect
// does on a real server. The response body is streamed: each handler Write is readable
// as soon as it is made. A handler that panics with http.ErrAbortHandler truncates the
// body (io.ErrUnexpectedEOF), as a dropped connection does.
func Client(h http.Handler) *http.Client { return &http.Client{Transport: &memTransport{h: h}} }

type memTransport struct{ h http.Handler }

func (t *memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hctx, cancel := context.WithCancel(ctx)
	sreq := req.Clone(hctx)
	sreq.Body = io.NopCloser(bytes.NewReader(body))
	sreq.ContentLength = int64(len(body))
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "127.0.0.1:49152"
	if sreq.Host == "" {
		sreq.Host = req.URL.Host
	}

	pr, pw := io.Pipe()
	w := &memWriter{header: make(http.Header), pw: pw, ready: make(chan struct{})}
	go func() {
		defer cancel()
		defer func() {
			p := recover()
			w.WriteHeader(http.StatusOK) // no-op when already written
			switch {
			case p == nil:
				pw.Close()
			case p == http.ErrAbortHandler:
				pw.CloseWithError(io.ErrUnexpectedEOF)
			default:
				pw.CloseWithError(fmt.Errorf("backendtest: handler panicked: %v", p))
			}
		}()
		t.h.ServeHTTP(w, sreq)
	}()

	select {
	case <-w.ready:
	case <-ctx.Done():
		pr.CloseWithError(ctx.Err())
		cancel()
		return nil, ctx.Err()
	}
	stop := context.AfterFunc(ctx, func() { pr.CloseWithError(ctx.Err()) })
	return &http.Response{
		Status:        strconv.Itoa(w.code) + " " + http.StatusText(w.code),
		StatusCode:    w.code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          &memBody{ctx: ctx, pr: pr, stop: stop, cancel: cancel},
		ContentLength: -1,
		Request:       req,
	}, nil
}

// memWriter is the handler's side. Only the handler goroutine touches it; code and sent
// are read by RoundTrip after ready is closed.
type memWriter struct {
	header http.Header
	sent   http.Header
	code   int
	pw     *io.PipeWriter
	ready  chan struct{}
	wrote  bool
}

func (w *memWriter) Header() http.Header { return w.header }

func (w *memWriter) WriteHeader(code int) {
	if w.wrote || (code >= 100 && code < 200) {
		return
	}
	w.wrote = true
	w.code = code
	w.sent = make(http.Header, len(w.header))
	for k, v := range w.header {
		if v != nil {
			w.sent[k] = append([]string(nil), v...)
		}
	}
	close(w.ready)
}

func (w *memWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		if _, ok := w.header["Content-Type"]; !ok && len(p) > 0 {
			w.header.Set("Content-Type", http.DetectContentType(p))
		}
		w.WriteHeader(http.StatusOK)
	}
	return w.pw.Write(p)
}

func (w *memWriter) Flush() {}

type memBody struct {
	ctx    context.Context
	pr     *io.PipeReader
	stop   func() bool
	cancel context.CancelFunc
}

// Read fails with the context's error once the request's context is done, as a real
// transport does, whichever of the two pipe ends noticed first.
func (b *memBody) Read(p []byte) (int, error) {
	n, err := b.pr.Read(p)
	if err != nil && b.ctx.Err() != nil {
		return n, b.ctx.Err()
	}
	return n, err
}

func (b *memBody) Close() error {
	b.stop()
	b.pr.Close()
	b.cancel()
	return nil
}
