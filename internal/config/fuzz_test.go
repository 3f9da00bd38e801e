package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParse: any config.json content parses without panic to a config or a one-line
// error; a config that parsed validates again unchanged (defaults are idempotent) and
// survives a marshal/parse round trip; no error or warning ever repeats the apiSecret
// value. Seed corpus: testdata/fuzz/FuzzParse (the example configs and broken ones).
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"clientId":"op_x","apiSecret":"pin_sk_abcdefgh","nodes":[{"alias":"a","inferenceUri":"http://127.0.0.1:11434","apiMode":"ollama","region":"us","capacity":2}]}`))
	f.Add([]byte("\xef\xbb\xbf{\"clientId\":\"op_x\",\"transport\":\"ws\",\"nodes\":[]}"))
	f.Add([]byte(`{"clientId":"x","apiSecret":"secret-not-prefixed","payoutAddress":"0x1","nodes":[{"capacity":-1}]}`))
	f.Add([]byte(`{"clientId":"op_x","nodes":[{"alias":"a","inferenceUri":"ftp://h","apiMode":"openai","region":"r","capacity":1,"pricePerThousandTokens":-3}],}`))
	f.Add([]byte(`{"clientId":"op_x","reconnectDelaySecs":"5","nodes":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var probe struct {
			APISecret any `json:"apiSecret"`
		}
		_ = json.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &probe)
		secret, _ := probe.APISecret.(string)
		// Only a secret of the real shape is checked, so a short value cannot match the
		// fixed text of a message by chance.
		real := strings.HasPrefix(secret, "pin_sk_") && len(secret) >= 12 &&
			strings.Trim(secret[len("pin_sk_"):], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == ""
		leaks := func(s string) bool { return real && strings.Contains(s, secret) }

		cfg, warnings, err := Parse(data)
		for _, w := range warnings {
			if leaks(w) {
				t.Fatalf("warning repeats the secret: %q", w)
			}
		}
		if err != nil {
			if cfg != nil {
				t.Fatal("Parse returned a config with its error")
			}
			if msg := err.Error(); msg == "" || strings.Contains(msg, "\n") || leaks(msg) {
				t.Fatalf("error is empty, multi-line or repeats the secret: %q", msg)
			}
			return
		}
		before, _ := json.Marshal(cfg)
		if _, err := cfg.Check(); err != nil {
			t.Fatalf("a parsed config fails its second Check: %v", err)
		}
		after, _ := json.Marshal(cfg)
		if !bytes.Equal(before, after) {
			t.Fatalf("Check is not idempotent:\n%s\n%s", before, after)
		}
		if _, _, err := Parse(after); err != nil {
			t.Fatalf("a parsed config does not parse again after marshalling: %v\n%s", err, after)
		}
	})
}
