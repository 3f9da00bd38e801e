package protocol

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// lenientCases are fixtures a gateway written in a language without an integer type
// sends: integral numbers as floats (issue 11 #9). They decode to the same values as
// integers; they are not goldens (Encode writes integers).
var lenientCases = []struct {
	name string
	want any
	into func() any // nil: a whole message through Decode
}{
	{"lenient_s2c_interview_request_float_ints", &InterviewRequest{InterviewID: "interview_abc123", NodeID: "node_2342e639-2a4", Model: "llama3:8b",
		Prompts: []Prompt{{ID: "factual_1", Prompt: "What is 2 + 2? Reply with just the number.", MaxTokens: 10}}, TimeoutMs: 60000}, nil},
	{"lenient_s2c_interview_failed_float_retry", &InterviewFailed{NodeID: "node_2342e639-2a4", Reason: "recently_failed",
		Message: "Interview failed 40s ago.", RetryAfterSeconds: ptr(uint64(259))}, nil},
	{"lenient_inference_payload_float_max_tokens", &InferencePayload{Model: "llama3:8b", Messages: json.RawMessage(`[{"role":"user","content":"hi"}]`),
		MaxTokens: ptr(16), Temperature: ptr(0.5)}, func() any { return new(InferencePayload) }},
}

func TestDecodeIntegralFloats(t *testing.T) {
	for _, tc := range lenientCases {
		t.Run(tc.name, func(t *testing.T) {
			b := mustRead(t, tc.name)
			var got any
			if tc.into == nil {
				m, err := Decode(b)
				if err != nil {
					t.Fatal(err)
				}
				got = m
			} else {
				got = tc.into()
				if err := json.Unmarshal(b, got); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decoded\n got  %#v\n want %#v", got, tc.want)
			}
		})
	}
}

// Numbers that are not whole, or negative, are refused with an error naming the field.
func TestDecodeBadWholeNumbers(t *testing.T) {
	for _, tc := range []struct{ in, field string }{
		{`{"type":"INTERVIEW_REQUEST","interview_id":"i","model":"m","prompts":[],"timeout_ms":60000.5}`, "timeout_ms"},
		{`{"type":"INTERVIEW_REQUEST","interview_id":"i","model":"m","prompts":[],"timeout_ms":-1}`, "timeout_ms"},
		{`{"type":"INTERVIEW_REQUEST","interview_id":"i","model":"m","prompts":[{"id":"p","prompt":"q","max_tokens":1.5}]}`, "max_tokens"},
		{`{"type":"INTERVIEW_FAILED","retry_after_seconds":-259.0}`, "retry_after_seconds"},
		{`{"type":"INTERVIEW_FAILED","retry_after_seconds":1e400}`, "retry_after_seconds"},
	} {
		_, err := Decode([]byte(tc.in))
		if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Decode(%s) = %v, want an error naming %s", tc.in, err, tc.field)
		}
	}
	var p InferencePayload
	err := json.Unmarshal([]byte(`{"model":"m","messages":[],"max_tokens":16.5}`), &p)
	if err == nil || !strings.Contains(err.Error(), "max_tokens") {
		t.Errorf("payload max_tokens 16.5: %v, want an error naming max_tokens", err)
	}
}
