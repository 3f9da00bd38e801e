package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The test vector of pin-protocol.md §3.1.
const (
	vecClientID  = "op_test"
	vecTimestamp = "1704067200"
	vecSecret    = "pin_sk_test"
	vecHash      = "bf7ad143c40f45cdc7a1fa1ad1a56135ef4ec819f1ec6dda655917f3100e567b"
	vecSignature = "d4b3627222cb58e83437cc5d96b50f918b372c538e0ef8592872c6f04e99369c"
)

func TestSignatureVector(t *testing.T) {
	s := NewSecret(vecSecret)
	if got := SecretHash(s); got != vecHash {
		t.Errorf("SecretHash = %s, want %s", got, vecHash)
	}
	if got := Signature(vecClientID, vecTimestamp, s); got != vecSignature {
		t.Errorf("Signature = %s, want %s", got, vecSignature)
	}
	if got := SignatureFromHash(vecClientID, vecTimestamp, vecHash); got != vecSignature {
		t.Errorf("SignatureFromHash = %s, want %s", got, vecSignature)
	}
	ts, sig := Sign(vecClientID, s, time.Unix(1704067200, 999_000_000))
	if ts != vecTimestamp || sig != vecSignature {
		t.Errorf("Sign = %s %s, want %s %s", ts, sig, vecTimestamp, vecSignature)
	}
	// Any change to an input changes the signature (it is not constant or truncated).
	for _, other := range []string{
		Signature("op_tesT", vecTimestamp, s),
		Signature(vecClientID, "1704067201", s),
		Signature(vecClientID, vecTimestamp, NewSecret("pin_sk_tesT")),
	} {
		if other == vecSignature || len(other) != 64 || strings.ToLower(other) != other {
			t.Errorf("bad signature variant %s", other)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(vecSecret)
	type holder struct {
		Name   string
		Secret Secret
		Ptr    *Secret
	}
	h := holder{Name: "n", Secret: s, Ptr: &s}

	var outs []string
	for _, verb := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x", "%X", "%d", "%T %v"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, &s), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	outs = append(outs, fmt.Sprint(s), fmt.Sprintln(s, h), s.String(), s.GoString())

	for _, v := range []any{s, &s, h, map[string]Secret{"k": s}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b))
	}
	if b, err := s.MarshalText(); err == nil {
		outs = append(outs, string(b))
	}

	var logs bytes.Buffer
	for _, l := range []*slog.Logger{
		slog.New(slog.NewTextHandler(&logs, nil)),
		slog.New(slog.NewJSONHandler(&logs, nil)),
	} {
		l.Info("secret", "secret", s, "ptr", &s, "holder", h, slog.Any("any", s), slog.Group("g", "s", s))
	}
	outs = append(outs, logs.String())

	for _, o := range outs {
		if strings.Contains(o, vecSecret) || strings.Contains(o, fmt.Sprintf("%x", vecSecret)) || strings.Contains(o, fmt.Sprintf("%X", vecSecret)) {
			t.Errorf("secret leaked: %s", o)
		}
	}
	if !strings.Contains(logs.String(), "[redacted]") || !strings.Contains(fmt.Sprint(s), "[redacted]") {
		t.Errorf("redaction marker missing: %s", logs.String())
	}
	if s.Reveal() != vecSecret || s.IsZero() || !NewSecret("").IsZero() {
		t.Error("Reveal/IsZero")
	}
}
