// Package present turns engine status snapshots into what the desktop app shows: the
// state in words with its reason, which tray icon, which tray menu items exist and are
// enabled, per-node table rows and totals, and the recent-log text.
//
// It is plain Go with no Fyne import, so all of it is tested with ordinary unit tests.
// Every function is pure: the current time is passed in, nothing is read from the
// environment, and the snapshot is never modified.
package present

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/transport"
)

// Icon names the tray icon for a state.
type Icon int

const (
	IconOffline   Icon = iota // not serving, nothing for the operator to fix
	IconOnline                // serving jobs (or finishing them while draining)
	IconAttention             // the operator should look: credentials, backend, interview, CPU fallback
)

func (i Icon) String() string {
	switch i {
	case IconOnline:
		return "online"
	case IconAttention:
		return "attention"
	default:
		return "offline"
	}
}

// Summary is the engine state as an operator reads it.
type Summary struct {
	Title  string // e.g. "Online", "Reconnecting in 4 s"
	Reason string // one line: why not online, or what to look at; empty when fine
	Icon   Icon
}

// Summarize says what state s is in at time now. Countdowns ("Reconnecting in N s",
// "retry in N min") are rounded up, so they never show 0 while still waiting.
func Summarize(s core.Status, now time.Time) Summary {
	if sum, ok := pausedSummary(s, now); ok {
		return sum
	}
	switch s.State {
	case core.StateOffline:
		if s.LastError != "" {
			return Summary{Title: "Offline", Reason: s.LastError, Icon: IconAttention}
		}
		return Summary{Title: "Offline", Icon: IconOffline}
	case core.StateConnecting:
		return Summary{Title: "Connecting…", Reason: s.LastError, Icon: IconOffline}
	case core.StateOnline:
		if alias, msg, ok := unreachableNode(s.Nodes); ok {
			return Summary{Title: "Backend unreachable", Reason: alias + ": " + msg, Icon: IconAttention}
		}
		if alias, msg, ok := degradedNode(s.Nodes); ok {
			return Summary{Title: "Online", Reason: alias + ": " + msg, Icon: IconAttention}
		}
		return Summary{Title: "Online", Icon: IconOnline}
	case core.StateReconnecting:
		title := "Reconnecting…"
		if left := s.RetryAt.Sub(now); !s.RetryAt.IsZero() && left > 0 {
			title = "Reconnecting in " + strconv.Itoa(ceilUnits(left, time.Second)) + " s"
		}
		return Summary{Title: title, Reason: s.LastError, Icon: IconOffline}
	case core.StateDraining:
		return Summary{Title: "Draining", Reason: drainingReason(s.InFlight), Icon: IconOnline}
	case core.StateAuthRejected:
		reason := s.LastError
		if reason == "" {
			reason = "the gateway refused the client ID and API secret; check both in Settings"
		}
		return Summary{Title: "Credentials rejected", Reason: reason, Icon: IconAttention}
	case core.StateInterviewFailed:
		title := "Interview failed"
		if left := s.RetryAt.Sub(now); !s.RetryAt.IsZero() && left > 0 {
			title += " (retry in " + strconv.Itoa(ceilUnits(left, time.Minute)) + " min)"
		}
		reason := s.LastError
		if reason == "" {
			reason = interviewNote(s.Nodes)
		}
		return Summary{Title: title, Reason: reason, Icon: IconAttention}
	default:
		return Summary{Title: "Unknown state", Reason: s.LastError, Icon: IconAttention}
	}
}

// ceilUnits is d in whole units, rounded up, at least 1.
func ceilUnits(d, unit time.Duration) int {
	n := int(math.Ceil(float64(d) / float64(unit)))
	return max(n, 1)
}

func drainingReason(inFlight int) string {
	switch inFlight {
	case 0:
		return "no jobs running; disconnecting"
	case 1:
		return "finishing 1 running job, then going offline"
	default:
		return "finishing " + strconv.Itoa(inFlight) + " running jobs, then going offline"
	}
}

func unreachableNode(nodes []core.NodeStatus) (alias, msg string, ok bool) {
	for _, n := range nodes {
		if !n.BackendOK && n.BackendError != "" {
			return n.Alias, n.BackendError, true
		}
	}
	return "", "", false
}

func degradedNode(nodes []core.NodeStatus) (alias, msg string, ok bool) {
	for _, n := range nodes {
		if n.Degraded != "" {
			return n.Alias, n.Degraded, true
		}
	}
	return "", "", false
}

func interviewNote(nodes []core.NodeStatus) string {
	for _, n := range nodes {
		if n.Tier == "failed" && n.InterviewNote != "" {
			return n.Alias + ": " + n.InterviewNote
		}
	}
	return "the gateway failed a node's quality interview"
}

// TransportLine is the gateway link in words: where the transport really connects
// (SSE: the http(s) base it derives from serverUrl; WebSocket: the ws(s) URL) and how,
// e.g. "aiassist.net (SSE over HTTPS)" or "aiassist.net/ws (WebSocket over TLS)".
func TransportLine(s core.Status) string {
	ws := s.Transport == "ws"
	if s.Gateway == "" {
		switch {
		case ws:
			return "WebSocket"
		case s.Transport != "":
			return "SSE"
		}
		return ""
	}
	target := transport.HTTPBase(s.Gateway)
	if ws {
		target = transport.WSURL(s.Gateway)
	}
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return target
	}
	where := u.Host + strings.TrimRight(u.EscapedPath(), "/")
	secure := u.Scheme == "https" || u.Scheme == "wss"
	switch {
	case ws && secure:
		return where + " (WebSocket over TLS)"
	case ws:
		return where + " (WebSocket, unencrypted)"
	case secure:
		return where + " (SSE over HTTPS)"
	default:
		return where + " (SSE over HTTP, unencrypted)"
	}
}

// NodeRow is one line of the dashboard's node table, every cell already formatted.
type NodeRow struct {
	Alias    string
	Backend  string // "ollama http://localhost:11434", with "(unreachable)" when it is
	Models   string // first few models, "+N more"
	Tier     string // "—" before an interview
	Accuracy string // "92%" or "—"
	Speed    string // "23.4 tok/s" or "—"
	InFlight string
	Served   string
	Tokens   string // prompt + completion
	Earnings string // estimated: tokens × price / 1000, in USD
}

// NodeHeaders are the column titles matching NodeRow's fields, in order.
var NodeHeaders = []string{"Node", "Backend", "Models", "Tier", "Accuracy", "Speed", "In flight", "Served", "Tokens", "Est. earnings"}

// Cells returns the row's cells in NodeHeaders order.
func (r NodeRow) Cells() []string {
	return []string{r.Alias, r.Backend, r.Models, r.Tier, r.Accuracy, r.Speed, r.InFlight, r.Served, r.Tokens, r.Earnings}
}

// maxModelsShown bounds the models cell; the rest are counted.
const maxModelsShown = 3

// Earnings is the estimated income of a node: billed tokens × price per 1K tokens / 1000.
func Earnings(n core.NodeStatus) float64 {
	return float64(n.PromptTokens+n.CompletionTokens) * n.Price / 1000
}

// Nodes returns one row per node, in the snapshot's order.
func Nodes(s core.Status) []NodeRow {
	rows := make([]NodeRow, 0, len(s.Nodes))
	for _, n := range s.Nodes {
		backend := strings.TrimSpace(n.APIMode + " " + n.BackendURL)
		if !n.BackendOK && n.BackendError != "" {
			backend += " (unreachable)"
		}
		row := NodeRow{
			Alias:    n.Alias,
			Backend:  backend,
			Models:   models(n.Models),
			Tier:     dash(n.Tier),
			Accuracy: "—",
			Speed:    "—",
			InFlight: strconv.Itoa(n.InFlight),
			Served:   strconv.FormatUint(n.Served, 10),
			Tokens:   strconv.FormatUint(n.PromptTokens+n.CompletionTokens, 10),
			Earnings: Money(Earnings(n)),
		}
		if !n.InterviewAt.IsZero() || n.Tier != "" {
			row.Accuracy = strconv.FormatFloat(n.Accuracy, 'f', -1, 64) + "%"
			row.Speed = strconv.FormatFloat(n.TokensPerSec, 'f', 1, 64) + " tok/s"
		}
		rows = append(rows, row)
	}
	return rows
}

func models(ms []string) string {
	switch {
	case len(ms) == 0:
		return "—"
	case len(ms) <= maxModelsShown:
		return strings.Join(ms, ", ")
	default:
		return strings.Join(ms[:maxModelsShown], ", ") + " +" + strconv.Itoa(len(ms)-maxModelsShown) + " more"
	}
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// Money formats USD with enough precision for per-token prices ("$0.0123").
func Money(usd float64) string {
	if usd >= 100 {
		return fmt.Sprintf("$%.2f", usd)
	}
	return fmt.Sprintf("$%.4f", usd)
}

// Totals is the dashboard's totals line, formatted.
type Totals struct {
	InFlight string // "2 running, 1 queued"
	Served   string // "12 served, 1 failed, 0 busy"
	Tokens   string
	Earnings string // sum of the nodes' estimates
}

// Total sums the snapshot for the totals line.
func Total(s core.Status) Totals {
	var usd float64
	for _, n := range s.Nodes {
		usd += Earnings(n)
	}
	return Totals{
		InFlight: fmt.Sprintf("%d running, %d queued", s.InFlight, s.Queued),
		Served:   fmt.Sprintf("%d served, %d failed, %d busy", s.Served, s.Failed, s.Rejected),
		Tokens:   strconv.FormatUint(s.Tokens, 10) + " tokens",
		Earnings: Money(usd) + " estimated",
	}
}

// MaxLogLines bounds the dashboard's log view.
const MaxLogLines = 200

// LogText renders the newest MaxLogLines lines of the snapshot's log, oldest first, one
// per line ("15:04:05 INFO message"), in local time. The engine keeps prompt text out
// of Status.Log; this only formats.
func LogText(lines []core.LogLine) string {
	if len(lines) > MaxLogLines {
		lines = lines[len(lines)-MaxLogLines:]
	}
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l.Time.Format("15:04:05"))
		b.WriteByte(' ')
		b.WriteString(l.Level.String())
		b.WriteByte(' ')
		b.WriteString(strings.ReplaceAll(l.Message, "\n", " "))
	}
	return b.String()
}
