package protocol

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"
)

// Secret is the operator's API secret (pin_sk_…). It never prints: String, GoString,
// fmt verbs, JSON and slog all show "[redacted]". Reveal is the only way to the value.
type Secret struct{ v string }

// NewSecret wraps a secret value.
func NewSecret(v string) Secret { return Secret{v} }

// Reveal returns the raw value. Call it only to sign or to store.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether no secret is set.
func (s Secret) IsZero() bool { return s.v == "" }

// Format makes every fmt verb print "[redacted]"; without it %d or %x on a struct
// holding a Secret would print the raw field.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "[redacted]") }

func (s Secret) String() string               { return "[redacted]" }
func (s Secret) GoString() string             { return "[redacted]" }
func (s Secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }
func (s Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Signature computes the PIN request signature (§3.1):
//
//	hex(sha256(clientID + timestamp + hex(sha256(secret))))
//
// Two plain SHA-256 operations; not HMAC.
func Signature(clientID, timestamp string, secret Secret) string {
	return SignatureFromHash(clientID, timestamp, SecretHash(secret))
}

// SecretHash is hex(sha256(secret)), what the gateway stores.
func SecretHash(secret Secret) string {
	h := sha256.Sum256([]byte(secret.v))
	return hex.EncodeToString(h[:])
}

// SignatureFromHash is Signature given the stored secret hash (the gateway's side).
func SignatureFromHash(clientID, timestamp, secretHash string) string {
	h := sha256.Sum256([]byte(clientID + timestamp + secretHash))
	return hex.EncodeToString(h[:])
}

// Sign returns a fresh timestamp and signature for now.
func Sign(clientID string, secret Secret, now time.Time) (timestamp, signature string) {
	timestamp = strconv.FormatInt(now.Unix(), 10)
	return timestamp, Signature(clientID, timestamp, secret)
}
