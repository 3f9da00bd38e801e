package openai_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/backends/openai"
)

var msgs = json.RawMessage(`[{"role":"user","content":"SECRET-PROMPT"}]`)

// TestAPIKey: the bearer token goes on every request and nowhere else.
func TestAPIKey(t *testing.T) {
	const key = "sk-lm-SECRETKEY"
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := backendtest.NewOpenAI(t, backendtest.LMStudio, backendtest.Answer("hi"))
	c := openai.New(f.URL, openai.Options{APIKey: key, Logger: log})
	if _, err := c.Models(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chat(t.Context(), &backends.ChatRequest{Model: "m", Messages: msgs}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ChatStream(t.Context(), &backends.ChatRequest{Model: "m", Messages: msgs}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Speech(t.Context(), &backends.SpeechRequest{Model: "m", Input: "x"}); err != nil {
		t.Fatal(err)
	}
	f.Fail("/v1/models", 401, `{"error":"bad key"}`)
	_, err := c.Models(t.Context())
	if err == nil || strings.Contains(err.Error(), "SECRETKEY") {
		t.Errorf("err = %v", err)
	}
	reqs := f.Requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, r := range reqs {
		if got := r.Header.Get("Authorization"); got != "Bearer "+key {
			t.Errorf("%s %s: Authorization = %q", r.Method, r.Path, got)
		}
	}
	if strings.Contains(buf.String(), "SECRET") {
		t.Errorf("logs contain the key, prompt or answer:\n%s", buf.String())
	}
	// Without a key, no Authorization header at all.
	f.Reset()
	if _, err := openai.New(f.URL, openai.Options{}).Chat(t.Context(), &backends.ChatRequest{Model: "m", Messages: msgs}); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.LastRequest(""); r.Header.Get("Authorization") != "" {
		t.Errorf("Authorization sent without a key")
	}
}

func TestNonStreamingShapes(t *testing.T) {
	for _, c := range []struct {
		name, body                       string
		content, thinking, tools, finish string
		usage                            string
		err                              error
	}{
		{name: "content parts", body: `{"model":"x","choices":[{"message":{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"image_url"},{"type":"text","text":"b"}]},"finish_reason":"stop"}]}`,
			content: "ab", finish: "stop", usage: "null"},
		{name: "reasoning alias, no finish, total filled", body: `{"choices":[{"message":{"content":null,"reasoning":"r"}}],"usage":{"prompt_tokens":2,"completion_tokens":3}}`,
			thinking: "r", finish: "stop", usage: `{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}`},
		{name: "empty tool_calls dropped", body: `{"choices":[{"message":{"content":"c","tool_calls":[]},"finish_reason":"stop"}]}`,
			content: "c", finish: "stop", usage: "null"},
		{name: "no choices", body: `{"choices":[]}`, err: backends.ErrBadResponse},
		{name: "content of a wrong type", body: `{"choices":[{"message":{"content":5}}]}`, err: backends.ErrBadResponse},
		{name: "error object", body: `{"error":{"message":"model is loading"}}`, err: errors.New("model is loading")},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := backendtest.NewOpenAI(t, backendtest.VLLM, backendtest.Script{Raw: []byte(c.body)})
			res, err := openai.New(f.URL, openai.Options{}).Chat(t.Context(), &backends.ChatRequest{Model: "m", Messages: msgs})
			if c.err != nil {
				if err == nil || (!errors.Is(err, c.err) && !strings.Contains(err.Error(), c.err.Error())) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := res.Choices[0].Message
			u, _ := json.Marshal(res.Usage)
			if m.Content != c.content || m.Thinking != c.thinking || string(m.ToolCalls) != c.tools || res.Choices[0].FinishReason != c.finish || string(u) != c.usage {
				t.Errorf("got %+v usage %s", res, u)
			}
		})
	}
}

// TestStreamAnsweredWithJSON: a server that ignores stream:true still gives the answer.
func TestStreamAnsweredWithJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"model":"x","choices":[{"message":{"content":"whole","reasoning_content":"r"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`)
	}))
	defer srv.Close()
	var got []backends.Delta
	res, err := openai.New(srv.URL, openai.Options{}).ChatStream(t.Context(), &backends.ChatRequest{Model: "m", Messages: msgs}, func(d backends.Delta) error {
		got = append(got, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []backends.Delta{{Kind: backends.KindThinking, Text: "r"}, {Kind: backends.KindContent, Text: "whole"}}
	if !reflect.DeepEqual(got, want) || res.Choices[0].Message.Content != "whole" || res.Usage.TotalTokens != 3 || res.Model != "x" {
		t.Errorf("deltas %q result %+v", got, res)
	}
}
