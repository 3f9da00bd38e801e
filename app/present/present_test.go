package present

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pin-client/pin-client/core"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestSummarize(t *testing.T) {
	okNode := core.NodeStatus{Alias: "gpu-1", BackendOK: true}
	tests := []struct {
		name string
		s    core.Status
		want Summary
	}{
		{"offline by choice", core.Status{State: core.StateOffline},
			Summary{"Offline", "", IconOffline}},
		{"offline with error", core.Status{State: core.StateOffline, LastError: "no secret in the keyring"},
			Summary{"Offline", "no secret in the keyring", IconAttention}},
		{"connecting", core.Status{State: core.StateConnecting},
			Summary{"Connecting…", "", IconOffline}},
		{"online", core.Status{State: core.StateOnline, Nodes: []core.NodeStatus{okNode}},
			Summary{"Online", "", IconOnline}},
		{"online but backend unreachable", core.Status{State: core.StateOnline, Nodes: []core.NodeStatus{okNode,
			{Alias: "gpu-2", BackendError: "connection refused; is Ollama running?"}}},
			Summary{"Backend unreachable", "gpu-2: connection refused; is Ollama running?", IconAttention}},
		{"online, backend not probed yet", core.Status{State: core.StateOnline, Nodes: []core.NodeStatus{{Alias: "a"}}},
			Summary{"Online", "", IconOnline}},
		{"online on cpu", core.Status{State: core.StateOnline, Nodes: []core.NodeStatus{
			{Alias: "gpu-1", BackendOK: true, Degraded: "model llama3 is running on CPU"}}},
			Summary{"Online", "gpu-1: model llama3 is running on CPU", IconAttention}},
		{"reconnecting rounds up", core.Status{State: core.StateReconnecting, RetryAt: now.Add(4200 * time.Millisecond), LastError: "dial gateway: connection refused"},
			Summary{"Reconnecting in 5 s", "dial gateway: connection refused", IconOffline}},
		{"reconnecting exact", core.Status{State: core.StateReconnecting, RetryAt: now.Add(30 * time.Second)},
			Summary{"Reconnecting in 30 s", "", IconOffline}},
		{"reconnecting, retry due", core.Status{State: core.StateReconnecting, RetryAt: now.Add(-time.Second)},
			Summary{"Reconnecting…", "", IconOffline}},
		{"reconnecting, no time", core.Status{State: core.StateReconnecting},
			Summary{"Reconnecting…", "", IconOffline}},
		{"draining two", core.Status{State: core.StateDraining, InFlight: 2},
			Summary{"Draining", "finishing 2 running jobs, then going offline", IconOnline}},
		{"draining one", core.Status{State: core.StateDraining, InFlight: 1},
			Summary{"Draining", "finishing 1 running job, then going offline", IconOnline}},
		{"draining none", core.Status{State: core.StateDraining},
			Summary{"Draining", "no jobs running; disconnecting", IconOnline}},
		{"auth rejected with reason", core.Status{State: core.StateAuthRejected, LastError: "AUTH_FAILED: invalid signature"},
			Summary{"Credentials rejected", "AUTH_FAILED: invalid signature", IconAttention}},
		{"auth rejected default", core.Status{State: core.StateAuthRejected},
			Summary{"Credentials rejected", "the gateway refused the client ID and API secret; check both in Settings", IconAttention}},
		{"interview failed", core.Status{State: core.StateInterviewFailed, RetryAt: now.Add(259 * time.Second),
			Nodes: []core.NodeStatus{{Alias: "gpu-1", Tier: "failed", InterviewNote: "accuracy 40% is below 70%"}}},
			Summary{"Interview failed (retry in 5 min)", "gpu-1: accuracy 40% is below 70%", IconAttention}},
		{"interview failed, under a minute", core.Status{State: core.StateInterviewFailed, RetryAt: now.Add(10 * time.Second), LastError: "recently_failed"},
			Summary{"Interview failed (retry in 1 min)", "recently_failed", IconAttention}},
		{"interview failed, no retry", core.Status{State: core.StateInterviewFailed},
			Summary{"Interview failed", "the gateway failed a node's quality interview", IconAttention}},
		{"unknown state", core.Status{State: core.State(99)},
			Summary{"Unknown state", "", IconAttention}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.s, now); got != tt.want {
				t.Errorf("Summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestIconString(t *testing.T) {
	for icon, want := range map[Icon]string{IconOffline: "offline", IconOnline: "online", IconAttention: "attention"} {
		if got := icon.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", icon, got, want)
		}
	}
}

func TestTransportLine(t *testing.T) {
	tests := []struct {
		s    core.Status
		want string
	}{
		{core.Status{Transport: "sse", Gateway: "wss://aiassist.net/ws"}, "aiassist.net (SSE over HTTPS)"},
		{core.Status{Transport: "sse", Gateway: "https://gw.example:8443/"}, "gw.example:8443 (SSE over HTTPS)"},
		{core.Status{Transport: "sse", Gateway: "ws://127.0.0.1:7000/ws"}, "127.0.0.1:7000 (SSE over HTTP, unencrypted)"},
		{core.Status{Transport: "ws", Gateway: "wss://aiassist.net/ws"}, "aiassist.net/ws (WebSocket over TLS)"},
		{core.Status{Transport: "ws", Gateway: "https://aiassist.net/ws"}, "aiassist.net/ws (WebSocket over TLS)"},
		{core.Status{Transport: "ws", Gateway: "ws://127.0.0.1:7000/ws"}, "127.0.0.1:7000/ws (WebSocket, unencrypted)"},
		{core.Status{Gateway: "wss://gw/ws"}, "gw (SSE over HTTPS)"},
		{core.Status{Transport: "ws"}, "WebSocket"},
		{core.Status{}, ""},
	}
	for _, tt := range tests {
		if got := TransportLine(tt.s); got != tt.want {
			t.Errorf("TransportLine(%+v) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestNodes(t *testing.T) {
	s := core.Status{Nodes: []core.NodeStatus{
		{
			Alias: "gpu-1", APIMode: "ollama", BackendURL: "http://localhost:11434", BackendOK: true,
			Models: []string{"llama3:8b", "qwen2:7b"}, Price: 0.002,
			Tier: "verified", Accuracy: 92.5, TokensPerSec: 41.25, InterviewAt: now,
			InFlight: 1, Served: 12, PromptTokens: 1500, CompletionTokens: 3500,
		},
		{
			Alias: "box", APIMode: "openai", BackendURL: "http://127.0.0.1:8000",
			BackendError: "connection refused", Models: []string{"a", "b", "c", "d", "e"}, Price: 0.001,
		},
	}}
	got := Nodes(s)
	want := []NodeRow{
		{"gpu-1", "ollama http://localhost:11434", "llama3:8b, qwen2:7b", "verified", "92.5%", "41.2 tok/s", "1", "12", "5000", "$0.0100"},
		{"box", "openai http://127.0.0.1:8000 (unreachable)", "a, b, c +2 more", "—", "—", "—", "0", "0", "0", "$0.0000"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
		if n := len(got[i].Cells()); n != len(NodeHeaders) {
			t.Errorf("row %d has %d cells, headers %d", i, n, len(NodeHeaders))
		}
	}
	if got := Nodes(core.Status{}); len(got) != 0 {
		t.Errorf("no nodes: got %d rows", len(got))
	}
}

func TestEarningsAndMoney(t *testing.T) {
	tests := []struct {
		n    core.NodeStatus
		usd  float64
		text string
	}{
		{core.NodeStatus{PromptTokens: 1000, CompletionTokens: 0, Price: 0.001}, 0.001, "$0.0010"},
		{core.NodeStatus{PromptTokens: 250_000, CompletionTokens: 750_000, Price: 0.5}, 500, "$500.00"},
		{core.NodeStatus{Price: 0.001}, 0, "$0.0000"},
	}
	for _, tt := range tests {
		got := Earnings(tt.n)
		if diff := got - tt.usd; diff > 1e-12 || diff < -1e-12 {
			t.Errorf("Earnings(%+v) = %v, want %v", tt.n, got, tt.usd)
		}
		if m := Money(got); m != tt.text {
			t.Errorf("Money(%v) = %q, want %q", got, m, tt.text)
		}
	}
}

func TestTotal(t *testing.T) {
	s := core.Status{
		InFlight: 3, Queued: 1, Served: 20, Failed: 2, Rejected: 4, Tokens: 7000,
		Nodes: []core.NodeStatus{
			{PromptTokens: 1000, CompletionTokens: 1000, Price: 0.001},
			{PromptTokens: 2000, CompletionTokens: 3000, Price: 0.002},
		},
	}
	want := Totals{"3 running, 1 queued", "20 served, 2 failed, 4 busy", "7000 tokens", "$0.0120 estimated"}
	if got := Total(s); got != want {
		t.Errorf("Total =\n %+v\nwant %+v", got, want)
	}
}

func TestLogText(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 5, 7, 0, time.UTC)
	lines := []core.LogLine{
		{Time: at, Level: slog.LevelInfo, Message: "node registered node=gpu-1"},
		{Time: at.Add(time.Second), Level: slog.LevelWarn, Message: "two\nlines"},
	}
	want := "09:05:07 INFO node registered node=gpu-1\n09:05:08 WARN two lines"
	if got := LogText(lines); got != want {
		t.Errorf("LogText =\n%s\nwant\n%s", got, want)
	}
	if got := LogText(nil); got != "" {
		t.Errorf("LogText(nil) = %q", got)
	}

	many := make([]core.LogLine, MaxLogLines+50)
	for i := range many {
		many[i] = core.LogLine{Time: at, Level: slog.LevelInfo, Message: "m" + strings.Repeat("x", i%3)}
	}
	many[50].Message = "first kept"
	got := strings.Split(LogText(many), "\n")
	if len(got) != MaxLogLines {
		t.Fatalf("kept %d lines, want %d", len(got), MaxLogLines)
	}
	if !strings.HasSuffix(got[0], "first kept") {
		t.Errorf("oldest kept line = %q, want the 51st", got[0])
	}
}
