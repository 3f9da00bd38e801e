package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzDecode: any bytes from the gateway decode without panic to a message or an error
// wrapping ErrMalformed; a message that decoded cleanly encodes again, and the encoding
// decodes to the same type (what the client sends back is always well-formed). The seed
// corpus is testdata/fuzz/FuzzDecode (every golden s2c_*/c2s_* fixture plus edge cases).
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"INFERENCE_REQUEST","request_id":"r1","payload":{"model":"m","messages":[]}}`))
	f.Add([]byte(`{"type":"INTERVIEW_REQUEST","interview_id":"i","timeout_ms":60000.0,"prompts":[{"id":"p","prompt":"x","max_tokens":16.0}]}`))
	f.Add([]byte(`{"type":"ERROR","message":"Invalid signature","retry_after_seconds":259.0}`))
	f.Add([]byte(`{"type":"NO_SUCH_TYPE","x":[1,2,{"y":null}]}`))
	f.Add([]byte(`{"type":""}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte("{\"type\":\"PING\"}\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if m == nil {
			t.Fatal("Decode returned neither a message nor an error")
		}
		if u, ok := m.(*Unknown); ok {
			if u.Type == "" || !bytes.Equal(u.Raw, b) {
				t.Fatalf("Unknown kept type %q and %d of %d bytes", u.Type, len(u.Raw), len(b))
			}
			return
		}
		out, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded %s does not encode: %v", m.MsgType(), err)
		}
		if !json.Valid(out) {
			t.Fatalf("%s encodes to invalid JSON: %q", m.MsgType(), out)
		}
		again, err := Decode(out)
		if err != nil {
			t.Fatalf("%s: re-decoding its own encoding failed: %v\n%s", m.MsgType(), err, out)
		}
		if again.MsgType() != m.MsgType() {
			t.Fatalf("type changed on the round trip: %s -> %s", m.MsgType(), again.MsgType())
		}
	})
}
