package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pin-client/pin-client/backends"
	"github.com/pin-client/pin-client/backends/backendtest"
)

// Backend behaviours a job asks for in its user message: "soak <mode> <tokens> <ms>".
const (
	modeOK    = "ok"    // answer tokens deltas, one every 20 ms
	modeAbort = "abort" // stream tokens deltas, then drop the connection (backend killed)
	modeE500  = "e500"  // HTTP 500
	modeHang  = "hang"  // send nothing for ms milliseconds, then answer
	modeTools = "tools" // deltas then one tool call
)

// tokenDelay is the gap between a fake's deltas.
const tokenDelay = 20 * time.Millisecond

// soakPrompt builds the user message that selects a backend behaviour.
func soakPrompt(mode string, tokens int, hold time.Duration) string {
	return fmt.Sprintf("soak %s %d %d", mode, tokens, hold.Milliseconds())
}

// respond is every chat fake's responder: it reads the last user message and answers
// as it asks; anything else (the daemon's node checks, interview prompts) gets a short
// normal answer.
func respond(r backendtest.Request) backendtest.Script {
	var body struct {
		Messages []struct {
			Content any `json:"content"`
		} `json:"messages"`
	}
	_ = json.Unmarshal(r.Body, &body)
	text := ""
	if n := len(body.Messages); n > 0 {
		text, _ = body.Messages[n-1].Content.(string)
	}
	f := strings.Fields(text)
	if len(f) != 4 || f[0] != "soak" {
		return backendtest.Answer("fine", " thanks")
	}
	tokens, _ := strconv.Atoi(f[2])
	ms, _ := strconv.Atoi(f[3])
	sc := backendtest.Script{TokenDelay: tokenDelay}
	for i := range tokens {
		sc.Deltas = append(sc.Deltas, backends.Delta{Kind: backends.KindContent, Text: fmt.Sprintf(" t%d", i)})
	}
	switch f[1] {
	case modeAbort:
		sc.Abort = true
		if !r.Stream {
			// A non-streaming answer is one body: the fake cannot cut it half-way, so
			// the backend dies before answering instead.
			sc = backendtest.Script{Status: 502, Body: "backend died"}
		}
	case modeE500:
		sc = backendtest.Script{Status: 500}
	case modeHang:
		hold := make(chan struct{})
		time.AfterFunc(time.Duration(ms)*time.Millisecond, func() { close(hold) })
		sc.Hold = hold
	case modeTools:
		sc.ToolCalls = []backendtest.ToolCall{{Name: "get_weather", Arguments: `{"city":"Zürich"}`}}
	}
	return sc
}

// fakes are the backends of the soak's two nodes.
type fakes struct {
	chat *backendtest.Fake // node n1, OpenAI-compatible (vLLM flavour)
	oll  *backendtest.Fake // node n2, Ollama
	tts  *backendtest.Fake // n1's TTS server
}

func startFakes() *fakes {
	f := &fakes{
		chat: backendtest.NewOpenAI(nil, backendtest.VLLM, backendtest.Script{}),
		oll:  backendtest.NewOllama(nil, backendtest.Script{}),
		tts:  backendtest.NewTTS(nil, audio(), "audio/mpeg"),
	}
	f.chat.SetResponder(respond)
	f.oll.SetResponder(respond)
	f.chat.Start()
	f.oll.Start()
	f.tts.Start()
	return f
}

// inFlight is the number of chat requests the fakes are serving.
func (f *fakes) inFlight() int { return f.chat.InFlight() + f.oll.InFlight() }

// reset forgets the recorded requests (the fakes keep every body otherwise).
func (f *fakes) reset() {
	f.chat.Reset()
	f.oll.Reset()
	f.tts.Reset()
}

func (f *fakes) close() {
	f.chat.Close()
	f.oll.Close()
	f.tts.Close()
}

// audio is 48 KiB of fake MP3.
func audio() []byte {
	b := make([]byte, 48<<10)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}
