// Package backendtest provides fake LLM servers and the conformance suite every
// backends.Backend adapter must pass. It is meant for tests and benchmarks anywhere in
// the module (the engine's included), never for production code.
//
// # Fakes
//
// A Fake imitates Ollama (NewOllama: GET /api/tags, POST /api/chat with NDJSON
// streaming) or an OpenAI-compatible server (NewOpenAI: GET /v1/models,
// POST /v1/chat/completions with SSE streaming, POST /v1/audio/speech) in one of three
// Flavours — LlamaCpp (reasoning_content, usage on the finish frame), VLLM (the
// "reasoning" alias, a usage-only final frame with "choices":[]) and LMStudio. NewTTS is
// a speech-only server (chatterbox-style).
//
//	f := backendtest.NewOllama(t, backendtest.Answer("Hel", "lo").Thinking("hmm"))
//	b := ollama.New(f.URL, ollama.Options{})
//
// With a non-nil testing.TB the fake runs as an httptest.Server on loopback (f.URL) and
// is closed at the end of the test. With nil it is only an http.Handler: call Start (and
// Close), or use f.Client(), an http.Client that serves it in memory. The in-memory
// client needs no network and starts no goroutine outside the caller's, so fakes work
// inside testing/synctest bubbles, where Script delays run on the fake clock:
//
//	synctest.Test(t, func(t *testing.T) {
//		f := backendtest.NewOpenAI(nil, backendtest.VLLM, backendtest.Script{
//			Deltas: …, TTFT: 2 * time.Second, TokenDelay: 50 * time.Millisecond})
//		b := openai.New("http://fake.test", openai.Options{HTTPClient: f.Client()})
//		…
//	})
//
// What a fake answers is a Script: content and thinking Deltas, ToolCalls, Usage (or
// NoUsage), time to first token and inter-token delay (time.Timer based), Hold to keep a
// request in flight until a channel is closed, an error Status and Body, and stream
// faults — StreamError (an in-stream error frame), OmitDone (no final frames), StopAfter,
// Abort (a dropped connection), Noise (CRLF, blank and comment lines, unknown fields, a
// malformed line) — or a Raw body. SetScript changes it at runtime; SetResponder picks a
// Script per request (e.g. by model). SetModels changes the model list at runtime;
// SetStrictModels makes unknown models fail as the real server does; Fail injects a
// status and body on any path; SetSpeech sets the audio.
//
// A fake records every request (Requests, LastRequest: method, path, headers, the raw
// body, and the model and stream flag of chat requests) and counts requests in flight
// (InFlight, MaxInFlight; Reset clears). OllamaStream and OpenAIStream return the exact
// bytes a fake would stream, for parser fuzz seeds and benchmarks.
//
// # Conformance
//
// RunConformance(t, Target{Mode, New}) runs the shared contract checks against an
// adapter: an OpenAI-mode target against every flavour. An adapter that also implements
// backends.Speaker gets the speech checks too.
package backendtest
