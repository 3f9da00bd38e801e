package wire

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pin-client/pin-client/backends"
)

func TestPresent(t *testing.T) {
	for in, want := range map[string]bool{"": false, "  ": false, "null": false, " null\n": false,
		"[]": true, "{}": true, `"auto"`: true, "0": true, "false": true} {
		if got := Present(json.RawMessage(in)); got != want {
			t.Errorf("Present(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestEncodeKeepsText(t *testing.T) {
	b, err := Encode(struct {
		M json.RawMessage `json:"m"`
	}{json.RawMessage("[ {\"c\": \"<b> & ü\"} ]")})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"m":[{"c":"<b> & ü"}]}`; string(b) != want {
		t.Errorf("Encode = %s, want %s", b, want)
	}
	if _, err := Encode(struct{ M json.RawMessage }{json.RawMessage("[1,")}); err == nil {
		t.Errorf("Encode of invalid raw JSON: no error")
	}
}

func TestExcerpt(t *testing.T) {
	for _, c := range []struct {
		in    string
		limit int
		want  string
	}{
		{"plain", 10, "plain"},
		{"  a\n\n b\t\rc  ", 10, "a b c"},
		{"abcdefghij", 10, "abcdefghij"},
		{"abcdefghijk", 10, "abcdefg…"},
		{"ééééé", 8, "éé…"}, // never cuts inside a character
		{"bad \xff byte", 20, "bad \uFFFD byte"},
		{"\x00\x01ctl", 10, "ctl"},
	} {
		got := Excerpt(c.in, c.limit)
		if got != c.want || len(got) > c.limit || !utf8.ValidString(got) {
			t.Errorf("Excerpt(%q, %d) = %q, want %q", c.in, c.limit, got, c.want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	for in, want := range map[string]string{
		`{"error":"model not found"}`:                          "model not found",
		`{"error":{"message":"bad tools","type":"x"}}`:         "bad tools",
		`{"detail":"input is empty"}`:                          "input is empty",
		`{"detail":[{"loc":["body"],"msg":"field required"}]}`: `[{"loc":["body"],"msg":"field required"}]`,
		`{"message":"nope"}`:                                   "nope",
		`{"error":null,"message":"x"}`:                         "x",
		`<html>`:                                               "",
		`{"ok":true}`:                                          "",
	} {
		if got := ErrorMessage([]byte(in)); got != want {
			t.Errorf("ErrorMessage(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestDoErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"missing token"}`)
			return
		}
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, strings.Repeat("upstream\nfailed ", 1000))
	}))
	defer srv.Close()
	ctx := context.Background()

	_, err := Do(ctx, srv.Client(), Call{Backend: "OpenAI", Op: "op", Method: "GET", URL: srv.URL})
	var se *backends.StatusError
	if !errors.As(err, &se) || se.StatusCode != 401 || se.Body != "missing token" || se.Status != "401 Unauthorized" {
		t.Fatalf("err = %#v", err)
	}
	_, err = Do(ctx, srv.Client(), Call{Backend: "OpenAI", Op: "op", Method: "GET", URL: srv.URL, Bearer: "s3cret"})
	if !errors.As(err, &se) || se.StatusCode != 502 || len(se.Body) > ExcerptLimit || strings.Contains(se.Error(), "\n") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error leaks the token: %v", err)
	}

	_, err = Do(ctx, srv.Client(), Call{Op: "op", Method: "GET", URL: "http://127.0.0.1:1/x"})
	if !errors.Is(err, backends.ErrUnreachable) || !strings.HasPrefix(err.Error(), "op: backend unreachable: ") {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	_, err = Do(ctx, srv.Client(), Call{Op: "op", Method: "GET", URL: "://bad"})
	if err == nil || !strings.Contains(err.Error(), "invalid backend URL") {
		t.Fatalf("err = %v, want invalid backend URL", err)
	}
	cctx, cancel := context.WithCancelCause(ctx)
	cause := errors.New("writer closed")
	cancel(cause)
	_, err = Do(cctx, srv.Client(), Call{Op: "op", Method: "GET", URL: srv.URL})
	if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
		t.Fatalf("err = %v, want context.Canceled and the cause", err)
	}
}

func TestErrorText(t *testing.T) {
	for in, want := range map[string]string{"": "", "null": "", "false": "", `""`: "",
		`"oom"`: "oom", `{"message":"oom","code":500}`: "oom", `{"code":500}`: `{"code":500}`} {
		if got := ErrorText(json.RawMessage(in)); got != want {
			t.Errorf("ErrorText(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestToolCalls(t *testing.T) {
	for in, want := range map[string]string{"": "", "null": "", " [ ] ": "", `[{"a":1}]`: `[{"a":1}]`} {
		if got := string(ToolCalls(json.RawMessage(in))); got != want {
			t.Errorf("ToolCalls(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTrimBase(t *testing.T) {
	for in, want := range map[string]string{"http://h:1": "http://h:1", "http://h:1///": "http://h:1", " http://h/v/ ": "http://h/v"} {
		if got := TrimBase(in); got != want {
			t.Errorf("TrimBase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultClient(t *testing.T) {
	c := DefaultClient()
	if c != DefaultClient() {
		t.Errorf("DefaultClient is not shared")
	}
	if c.Timeout != 0 {
		t.Errorf("DefaultClient has an overall Timeout %v: it would cut long streams", c.Timeout)
	}
	tr, ok := c.Transport.(*http.Transport)
	if !ok || tr.TLSHandshakeTimeout == 0 || tr.DialContext == nil || tr.ResponseHeaderTimeout != 0 {
		t.Errorf("DefaultClient transport: want bounded dial and TLS handshake, no response-header timeout")
	}
}
