// Package adaptertest is the test scaffolding the backend adapters' own tests share: the
// golden request fixtures and their check, and the stream-parser harness behind each
// adapter's parser tests, fuzz target and parse benchmark. It is for tests under
// backends/ only; the fake servers and the conformance suite are in backendtest.
//
// The -update flag (registered by importing this package) rewrites the golden files.
package adaptertest

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Messages is deliberately pretty-printed and holds characters that a default
// json.Marshal would HTML-escape: they must go upstream as written (compacted).
var Messages = json.RawMessage(`[
  {"role": "system", "content": "Be <brief> & kind."},
  {"role": "user", "content": "Grüße, 世界 🎉", "name": "ana"},
  {"role": "tool", "tool_call_id": "call_1", "content": null}
]`)

// Tools is one function tool, as the gateway forwards it.
var Tools = json.RawMessage(`[{"type":"function","function":{"name":"declare_role","parameters":{"type":"object","properties":{"role":{"type":"string"}}}}}]`)

// GoldenCase is one request whose exact upstream body is pinned in
// testdata/request_<Name>.json.
type GoldenCase struct {
	Name   string
	Stream bool
	Req    backends.ChatRequest
}

// GoldenCases are the requests every adapter pins, for model: plain, with temperature and
// max_tokens, with tools and tool_choice, streaming and not.
func GoldenCases(model string) []GoldenCase {
	temp, maxTok := 0.15, 64
	return []GoldenCase{
		{"plain", false, backends.ChatRequest{Model: model, Messages: Messages}},
		{"plain_stream", true, backends.ChatRequest{Model: model, Messages: Messages}},
		{"temperature_max_tokens", false, backends.ChatRequest{Model: model, Messages: Messages, Temperature: &temp, MaxTokens: &maxTok}},
		{"temperature_only_stream", true, backends.ChatRequest{Model: model, Messages: Messages, Temperature: &temp}},
		{"tools_tool_choice", false, backends.ChatRequest{Model: model, Messages: Messages, Tools: Tools, ToolChoice: json.RawMessage(`"auto"`)}},
		{"tools_tool_choice_stream", true, backends.ChatRequest{Model: model, Messages: Messages, Temperature: &temp, MaxTokens: &maxTok, Tools: Tools, ToolChoice: json.RawMessage(`{"type":"function","function":{"name":"declare_role"}}`)}},
	}
}

// Chat runs req through b: ChatStream without a callback when stream, else Chat.
func Chat(ctx context.Context, b backends.Backend, stream bool, req *backends.ChatRequest) (*backends.ChatResult, error) {
	if stream {
		return b.ChatStream(ctx, req, nil)
	}
	return b.Chat(ctx, req)
}

// Golden sends requests through an adapter to a fake and reads back the exact bytes that
// arrived.
type Golden struct {
	Backend backends.Backend
	Fake    *backendtest.Fake
	Path    string // the fake's chat path, e.g. "/api/chat"
}

// Send runs req (streaming or not) and returns the request body that reached Path. Any
// failure ends the test.
func (g Golden) Send(t testing.TB, stream bool, req *backends.ChatRequest) []byte {
	t.Helper()
	if _, err := Chat(t.Context(), g.Backend, stream, req); err != nil {
		t.Fatalf("request: %v", err)
	}
	r, ok := g.Fake.LastRequest(g.Path)
	if !ok {
		t.Fatalf("no request reached %s", g.Path)
	}
	return r.Body
}

// Run checks, in one subtest each, that every case sends exactly the bytes of
// testdata/request_<Name>.json (go test -update rewrites them).
func (g Golden) Run(t *testing.T, cases []GoldenCase) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			got := g.Send(t, tc.Stream, &tc.Req)
			CheckGolden(t, filepath.Join("testdata", "request_"+tc.Name+".json"), got)
		})
	}
}

// Identical checks that every variant sends, non-streaming, exactly the body base sends
// (L5: absent or null optionals leave the body byte-identical).
func (g Golden) Identical(t *testing.T, base backends.ChatRequest, variants ...backends.ChatRequest) {
	t.Helper()
	want := g.Send(t, false, &base)
	for _, r := range variants {
		if got := g.Send(t, false, &r); !bytes.Equal(got, want) {
			t.Errorf("request with tools=%q tool_choice=%q\n got %s\nwant %s", r.Tools, r.ToolChoice, got, want)
		}
	}
}

// CheckGolden compares got with the file at path; with -update it writes the file first.
func CheckGolden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("request body differs from %s\n got %s\nwant %s", path, got, want)
	}
}
