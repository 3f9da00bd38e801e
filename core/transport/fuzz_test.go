package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/pin-client/pin-client/core/protocol"
)

// sseEvents runs the SSE downlink framing exactly as readLoop does (splitFrames,
// framePayload, decodeDownlink) and returns each event's payload and decoded type.
func sseEvents(r io.Reader) (payloads [][]byte, types []string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxFrame)
	sc.Split(splitFrames)
	for sc.Scan() {
		p := framePayload(sc.Bytes())
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
	return payloads, types, sc.Err()
}

// FuzzSSEFramer: any downlink byte stream is framed and decoded without panic; the
// outcome does not depend on how the stream was cut into reads (one read, or byte by
// byte after an arbitrary point), so a frame or a UTF-8 sequence split across TCP reads
// is never corrupted (G8); no payload spans a frame boundary (empty data lines joined
// by newlines are one frame's payload, not a span). Seed corpus:
// testdata/fuzz/FuzzSSEFramer.
func FuzzSSEFramer(f *testing.F) {
	f.Add([]byte("data: {\"type\":\"PING\"}\n\n: keepalive\n\n"), uint16(5))
	f.Add([]byte("event: AUTH_SUCCESS\ndata: {\"type\":\"AUTH_SUCCESS\",\"operator_id\":\"op\",\"stream_token\":\"t\"}\r\n\n"), uint16(30))
	f.Add([]byte("data: {\"type\":\"INFERENCE_REQUEST\",\"request_id\":\"r\",\"payload\":{\"messages\":[{\"role\":\"user\",\"content\":\"Grüße 世界\"}]}}\n\ndata: {\"type\":\"INFERENCE_REQUEST\",\"request_id\":7}\n\n"), uint16(60))
	f.Add([]byte("data: {\"type\":\ndata: \"CANCEL_REQUEST\",\"request_id\":\"r\"}\n\nevent: x\n\n\n\n\n"), uint16(2))
	f.Add([]byte("data: not json\n\ndata: {\"type\":\"ERROR\",\"message\":\"Invalid signature\"}"), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		p1, t1, err1 := sseEvents(bytes.NewReader(data))
		k := int(split) % (len(data) + 1)
		p2, t2, err2 := sseEvents(io.MultiReader(bytes.NewReader(data[:k]), iotest.OneByteReader(bytes.NewReader(data[k:]))))
		if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(p1, p2) || !reflect.DeepEqual(t1, t2) {
			t.Fatalf("split at %d changed the outcome:\n whole %q %v %v\npieces %q %v %v", k, p1, t1, err1, p2, t2, err2)
		}
		// A payload that swallowed the next frame would hold its blank line and its data
		// field. A bare "\n\n" is no sign of that: several empty data lines of one frame
		// join to newlines, as the SSE spec says.
		for _, p := range p1 {
			if bytes.Contains(p, []byte("\n\ndata:")) {
				t.Fatalf("payload spans a frame boundary: %q", p)
			}
		}
	})
}
