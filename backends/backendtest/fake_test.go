package backendtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pin-client/pin-client/backends"
)

func post(t *testing.T, hc *http.Client, url, body string) (*http.Response, []byte, error) {
	t.Helper()
	resp, err := hc.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// TestRenderersMatchServedBytes: OllamaStream/OpenAIStream are exactly what is served.
func TestRenderersMatchServedBytes(t *testing.T) {
	sc := Answer("a", "ü").Thinking("t")
	sc.ToolCalls = []ToolCall{{Name: "f", Arguments: `{"x":"✓"}`}}
	sc.Noise = true
	o := NewOllama(t, sc)
	_, got, err := post(t, http.DefaultClient, o.URL+"/api/chat", `{"model":"m","messages":[]}`) // Ollama streams by default
	if err != nil || !bytes.Equal(got, OllamaStream(sc, "m")) {
		t.Errorf("Ollama served %q (err %v), OllamaStream gives %q", got, err, OllamaStream(sc, "m"))
	}
	for _, fl := range Flavours {
		f := NewOpenAI(t, fl, sc)
		resp, got, err := post(t, f.Client(), "http://x/v1/chat/completions", `{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}`)
		if err != nil || !bytes.Equal(got, OpenAIStream(fl, sc, "m", true)) || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("%s served %q (err %v)", fl, got, err)
		}
	}
}

func TestFakeRequests(t *testing.T) {
	f := NewOllama(nil, Answer("x"))
	hc := f.Client()
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/api/chat", `{"model":"m","messages":[],"stream":false}`, 200},
		{"POST", "/api/chat", `{"model":"m","messages":{}}`, 400},
		{"POST", "/api/chat", `{"messages":[]}`, 400},
		{"POST", "/api/chat", `not json`, 400},
		{"GET", "/api/chat", ``, 405},
		{"GET", "/api/tags", ``, 200},
		{"GET", "/v1/models", ``, 404},
		{"GET", "/", ``, 200},
	} {
		req, _ := http.NewRequest(c.method, "http://x"+c.path, strings.NewReader(c.body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s %s = %d, want %d", c.method, c.path, c.body, resp.StatusCode, c.status)
		}
	}
	reqs := f.Requests()
	if len(reqs) != 8 || reqs[0].Model != "m" || reqs[0].Stream || string(reqs[1].Body) != `{"model":"m","messages":{}}` {
		t.Errorf("recorded %+v", reqs)
	}
	f.Reset()
	if len(f.Requests()) != 0 {
		t.Errorf("Reset kept requests")
	}
}

func TestResponderAndStrictModels(t *testing.T) {
	f := NewOpenAI(nil, VLLM, Script{})
	f.SetResponder(func(r Request) Script { return Answer("model=" + r.Model) })
	f.SetModels("a", "b")
	f.SetStrictModels(true)
	_, body, _ := post(t, f.Client(), "http://x/v1/chat/completions", `{"model":"b","messages":[]}`)
	if !bytes.Contains(body, []byte(`"content":"model=b"`)) {
		t.Errorf("responder answer: %s", body)
	}
	resp, body, _ := post(t, f.Client(), "http://x/v1/chat/completions", `{"model":"zzz","messages":[]}`)
	if resp.StatusCode != 404 || !bytes.Contains(body, []byte("zzz")) {
		t.Errorf("unknown model: %d %s", resp.StatusCode, body)
	}
	f.Fail("/v1/chat/completions", 503, "busy")
	if resp, body, _ = post(t, f.Client(), "http://x/v1/chat/completions", `{"model":"a","messages":[]}`); resp.StatusCode != 503 || string(body) != "busy" {
		t.Errorf("Fail: %d %s", resp.StatusCode, body)
	}
	f.Fail("/v1/chat/completions", 0, "")
	if resp, _, _ = post(t, f.Client(), "http://x/v1/chat/completions", `{"model":"a","messages":[]}`); resp.StatusCode != 200 {
		t.Errorf("Fail cleared: %d", resp.StatusCode)
	}
}

func TestMemClient(t *testing.T) {
	t.Run("abort truncates", func(t *testing.T) {
		hc := Client(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "partial")
			panic(http.ErrAbortHandler)
		}))
		_, body, err := post(t, hc, "http://x/", "")
		if !errors.Is(err, io.ErrUnexpectedEOF) || string(body) != "partial" {
			t.Errorf("body %q err %v; want partial body, io.ErrUnexpectedEOF", body, err)
		}
	})
	t.Run("panic is an error", func(t *testing.T) {
		hc := Client(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("bug") }))
		if _, _, err := post(t, hc, "http://x/", ""); err == nil || !strings.Contains(err.Error(), "bug") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("status, headers, sniffing", func(t *testing.T) {
		hc := Client(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-A", "1")
			w.WriteHeader(418)
			w.Header().Set("X-B", "late") // after WriteHeader: not sent
			io.WriteString(w, "tea")
		}))
		resp, body, err := post(t, hc, "http://x/", "")
		if err != nil || resp.StatusCode != 418 || resp.Status != "418 I'm a teapot" || resp.Header.Get("X-A") != "1" || resp.Header.Get("X-B") != "" || string(body) != "tea" {
			t.Errorf("resp %+v body %q err %v", resp, body, err)
		}
		hc = Client(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>") }))
		if resp, _, _ = post(t, hc, "http://x/", ""); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("Content-Type not sniffed: %q", resp.Header.Get("Content-Type"))
		}
	})
	t.Run("closing the body cancels the handler", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			done := make(chan error, 1)
			hc := Client(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "x")
				<-r.Context().Done()
				done <- r.Context().Err()
			}))
			resp, err := hc.Get("http://x/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("handler context: %v", err)
			}
		})
	})
	t.Run("timers run on the bubble clock", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sc := Answer("a", "b")
			sc.TTFT, sc.TokenDelay = time.Minute, time.Second
			f := NewOllama(nil, sc)
			start := time.Now()
			_, body, err := post(t, f.Client(), "http://x/api/chat", `{"model":"m","messages":[]}`)
			if err != nil || !bytes.Contains(body, []byte(`"done":true`)) {
				t.Fatalf("body %s err %v", body, err)
			}
			// frames: a, b, done → TTFT + 2 gaps
			if el := time.Since(start); el != time.Minute+2*time.Second {
				t.Errorf("stream took %v, want 1m2s", el)
			}
		})
	})
}

func TestTTS(t *testing.T) {
	f := NewTTS(nil, []byte{0, 1, 2}, "")
	resp, body, err := post(t, f.Client(), "http://x/v1/audio/speech", `{"model":"m","input":"hi","voice":"v","response_format":"wav"}`)
	if err != nil || !bytes.Equal(body, []byte{0, 1, 2}) || resp.Header.Get("Content-Type") != "" {
		t.Errorf("speech = %v %q %v", resp.Header, body, err)
	}
	f2 := NewTTS(t, []byte("ID3"), "audio/mpeg") // over a real server: still no sniffing surprises
	resp, _, _ = post(t, http.DefaultClient, f2.URL+"/v1/audio/speech", `{"model":"m","input":"hi"}`)
	if resp.Header.Get("Content-Type") != "audio/mpeg" {
		t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
	}
	if got := backends.ModeOpenAI; f2.Mode() != got {
		t.Errorf("Mode = %q", f2.Mode())
	}
}
