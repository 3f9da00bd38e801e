package transport

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/pin-client/pin-client/core/protocol"
)

// sseEvents runs the SSE downlink framing exactly as readLoop does (frameReader,
// framePayload, decodeDownlink) and returns each event's payload and decoded type.
func sseEvents(r io.Reader) (payloads [][]byte, types []string, err error) {
	fr := newFrameReader(r, maxFrame)
	for {
		frame, ferr := fr.Next()
		if ferr == io.EOF {
			return payloads, types, nil
		}
		if ferr != nil {
			return nil, nil, ferr
		}
		p := framePayload(frame)
		if p == nil {
			continue
		}
		payloads = append(payloads, append([]byte(nil), p...))
		m, derr := decodeDownlink(p)
		switch {
		case derr != nil && !errors.Is(derr, protocol.ErrMalformed):
			return nil, nil, derr
		case derr != nil:
			types = append(types, "!malformed")
		default:
			types = append(types, m.MsgType())
		}
	}
}

// referenceEvents is an independent, line-at-a-time reader of the downlink as §2.3
// defines it: lines end at "\n" (a trailing "\r" is dropped per line); an empty line,
// or the end of the stream, ends an event (a line holding only "\r" does not: the
// gateway's separator is the literal "\n\n"); "data: " and "event: " lines (with the
// space) are the only fields; the payload is the data values joined by "\n", else the
// event name. The framer must agree with it on every input.
func referenceEvents(data []byte) [][]byte {
	var out [][]byte
	var event, payload []byte
	hasData := false
	dispatch := func() {
		switch {
		case len(payload) > 0:
			out = append(out, payload)
		case len(event) > 0:
			out = append(out, event)
		}
		event, payload, hasData = nil, nil, false
	}
	for _, raw := range bytes.SplitAfter(data, []byte("\n")) {
		ended := bytes.HasSuffix(raw, []byte("\n"))
		line := bytes.TrimSuffix(raw, []byte("\n"))
		if len(line) == 0 && ended {
			dispatch()
			continue
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if v, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			if hasData {
				payload = append(payload, '\n')
			}
			payload = append(payload, v...)
			hasData = true
		} else if v, ok := bytes.CutPrefix(line, []byte("event: ")); ok {
			event = append([]byte(nil), v...)
		}
	}
	dispatch()
	return out
}

// FuzzSSEFramer: any downlink byte stream is framed and decoded without panic; the
// outcome does not depend on how the stream was cut into reads (one read, or byte by
// byte after an arbitrary point), so a frame or a UTF-8 sequence split across TCP reads
// is never corrupted (G8); and the events are exactly those of an independent
// line-at-a-time SSE reader, so no payload swallows a frame boundary or loses a line.
// Seed corpus: testdata/fuzz/FuzzSSEFramer.
func FuzzSSEFramer(f *testing.F) {
	f.Add([]byte("data: {\"type\":\"PING\"}\n\n: keepalive\n\n"), uint16(5))
	f.Add([]byte("event: AUTH_SUCCESS\ndata: {\"type\":\"AUTH_SUCCESS\",\"operator_id\":\"op\",\"stream_token\":\"t\"}\r\n\n"), uint16(30))
	f.Add([]byte("data: {\"type\":\"INFERENCE_REQUEST\",\"request_id\":\"r\",\"payload\":{\"messages\":[{\"role\":\"user\",\"content\":\"Grüße 世界\"}]}}\n\ndata: {\"type\":\"INFERENCE_REQUEST\",\"request_id\":7}\n\n"), uint16(60))
	f.Add([]byte("data: {\"type\":\ndata: \"CANCEL_REQUEST\",\"request_id\":\"r\"}\n\nevent: x\n\n\n\n\n"), uint16(2))
	f.Add([]byte("data: not json\n\ndata: {\"type\":\"ERROR\",\"message\":\"Invalid signature\"}"), uint16(0))
	f.Add([]byte("data:{\"type\":\"PING\"}\r\n\r\ndata\r\ndata: \ndata: \ndata: data:\r\n\n\n"), uint16(9))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		p1, t1, err1 := sseEvents(bytes.NewReader(data))
		k := int(split) % (len(data) + 1)
		p2, t2, err2 := sseEvents(io.MultiReader(bytes.NewReader(data[:k]), iotest.OneByteReader(bytes.NewReader(data[k:]))))
		if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(p1, p2) || !reflect.DeepEqual(t1, t2) {
			t.Fatalf("split at %d changed the outcome:\n whole %q %v %v\npieces %q %v %v", k, p1, t1, err1, p2, t2, err2)
		}
		if err1 != nil {
			return
		}
		if want := referenceEvents(data); !reflect.DeepEqual(p1, want) && (len(p1) > 0 || len(want) > 0) {
			t.Fatalf("framer and the reference SSE reader disagree on %q:\n framer    %q\n reference %q", data, p1, want)
		}
	})
}
