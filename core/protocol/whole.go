package protocol

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Lenient whole numbers (issue 11 #9). A gateway written in a language whose numbers
// are all floats may send "timeout_ms":60000.0 or "retry_after_seconds":259.0. A strict
// decoder would drop the whole frame, leaving the interview unanswered; these decoders
// accept any integral number and refuse, naming the field, a fraction, a negative
// number or one out of range.

// maxWhole is the largest float that is still an exact integer (2^53).
const maxWhole = 1 << 53

// whole converts a JSON number to a non-negative integer. A nil n gives 0.
func whole(field string, n *json.Number) (int64, error) {
	if n == nil {
		return 0, nil
	}
	s := n.String()
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		if i < 0 {
			return 0, fmt.Errorf("%s must not be negative, got %s", field, s)
		}
		return i, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f > maxWhole:
		return 0, fmt.Errorf("%s is out of range: %s", field, s)
	case f < 0:
		return 0, fmt.Errorf("%s must not be negative, got %s", field, s)
	case f != math.Trunc(f):
		return 0, fmt.Errorf("%s must be a whole number, got %s", field, s)
	}
	return int64(f), nil
}

func (m *InterviewRequest) UnmarshalJSON(b []byte) error {
	type plain InterviewRequest
	var v struct {
		plain
		TimeoutMs *json.Number `json:"timeout_ms"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	t, err := whole("timeout_ms", v.TimeoutMs)
	if err != nil {
		return err
	}
	*m = InterviewRequest(v.plain)
	m.TimeoutMs = t
	return nil
}

func (m *Prompt) UnmarshalJSON(b []byte) error {
	type plain Prompt
	var v struct {
		plain
		MaxTokens *json.Number `json:"max_tokens"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	n, err := whole("max_tokens", v.MaxTokens)
	if err != nil {
		return err
	}
	if n > math.MaxInt32 {
		return fmt.Errorf("max_tokens is out of range: %d", n)
	}
	*m = Prompt(v.plain)
	m.MaxTokens = int(n)
	return nil
}

func (m *InterviewFailed) UnmarshalJSON(b []byte) error {
	type plain InterviewFailed
	var v struct {
		plain
		RetryAfterSeconds *json.Number `json:"retry_after_seconds"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*m = InterviewFailed(v.plain)
	if v.RetryAfterSeconds != nil {
		n, err := whole("retry_after_seconds", v.RetryAfterSeconds)
		if err != nil {
			return err
		}
		u := uint64(n)
		m.RetryAfterSeconds = &u
	}
	return nil
}

func (m *InferencePayload) UnmarshalJSON(b []byte) error {
	type plain InferencePayload
	var v struct {
		plain
		MaxTokens *json.Number `json:"max_tokens"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*m = InferencePayload(v.plain)
	if v.MaxTokens != nil {
		n, err := whole("max_tokens", v.MaxTokens)
		if err != nil {
			return err
		}
		if n > math.MaxInt32 {
			return fmt.Errorf("max_tokens is out of range: %d", n)
		}
		i := int(n)
		m.MaxTokens = &i
	}
	return nil
}
