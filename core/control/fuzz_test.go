package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// flushCancels ends the request's context at the first flush, so a stream handler
// returns after its first line.
type flushCancels struct {
	*httptest.ResponseRecorder
	cancel context.CancelFunc
}

func (f flushCancels) Flush() {
	f.ResponseRecorder.Flush()
	f.cancel()
}

// FuzzRequest: any request the HTTP parser accepts gets exactly one answer with a
// status, errors as one-line JSON, and no panic.
func FuzzRequest(f *testing.F) {
	for _, seed := range []string{
		"GET /v1/info HTTP/1.1\r\nHost: pin-client\r\nPin-Control-Version: v1\r\n\r\n",
		"GET /v1/status HTTP/1.1\r\nHost: localhost:1\r\nPin-Control-Version: v1\r\n\r\n",
		"GET /v1/watch HTTP/1.1\r\nHost: pin-client\r\nPin-Control-Version: v1\r\n\r\n",
		"GET /v1/logs?follow=1 HTTP/1.1\r\nHost: pin-client\r\nPin-Control-Version: v1\r\n\r\n",
		"POST /v1/reload HTTP/1.1\r\nHost: pin-client\r\nPin-Control-Version: v1\r\nContent-Length: 2\r\n\r\n{}",
		"POST /v1/offline HTTP/1.1\r\nHost: pin-client\r\nPin-Control-Version: v1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
		"GET /v1/info HTTP/1.1\r\nHost: evil\r\nOrigin: http://evil\r\n\r\n",
		"PUT /v1/%zz HTTP/1.0\r\n\r\n",
		"GET /v1/logs?follow=%ff HTTP/1.1\r\nHost: pin-client\r\nPin-Control-Version: v1\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	eng := newFake()
	eng.publish(fullStatus())
	s := NewServer(ServerOptions{Engine: eng})
	h := s.Handler()
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // net/http answers 400 before any handler
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rec := flushCancels{httptest.NewRecorder(), cancel}
		h.ServeHTTP(rec, req.WithContext(ctx))
		code := rec.Code
		if code < 200 || code > 599 {
			t.Fatalf("status %d", code)
		}
		if code >= 400 {
			body := rec.Body.String()
			var eb errorBody
			if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error == "" || strings.Count(body, "\n") != 1 {
				t.Fatalf("%d answer %q is not a one-line JSON error", code, body)
			}
		}
	})
}
