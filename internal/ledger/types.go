// Package ledger is the engine's local job ledger: one receipt per finished job and
// interview, kept in an embedded SQLite database (modernc.org/sqlite, pure Go) in the
// engine's state directory, and the queries the CLI, the control API and the desktop
// app's Activity view read from it. It never stores prompt or answer text.
package ledger

import "time"

// Kinds of a receipt (core.JobReport.Kind).
const (
	KindChat      = "chat"
	KindTTS       = "tts"
	KindInterview = "interview"
)

// Outcomes of a receipt.
const (
	OutcomeOK           = "ok"
	OutcomeBackendError = "backend_error"
	OutcomeTimeout      = "timeout"
	OutcomeBusy         = "busy"
	OutcomeCancelled    = "cancelled"
	OutcomeLinkLost     = "link_lost"
)

// Receipt is one finished job or interview.
type Receipt struct {
	Time             time.Time     `json:"time"`                // when the job finished (its terminal answer), UTC
	ClientID         string        `json:"client_id,omitempty"` // the operator that served it (several may share a state directory)
	RequestID        string        `json:"request_id"`
	Node             string        `json:"node"`
	Model            string        `json:"model"`
	Kind             string        `json:"kind"`
	Outcome          string        `json:"outcome"`
	Reason           string        `json:"reason,omitempty"` // one line, for an outcome other than ok
	PromptTokens     int64         `json:"prompt_tokens"`
	CompletionTokens int64         `json:"completion_tokens"`
	TTFT             time.Duration `json:"ttft_ns"`
	Duration         time.Duration `json:"duration_ns"`
	TokensPerSec     float64       `json:"tokens_per_sec"` // completion tokens over the generation time
	PricePer1K       float64       `json:"price_per_1k"`   // USD per 1K tokens of the node
	Earnings         float64       `json:"earnings"`       // estimated USD: ok jobs only, (prompt+completion)/1000 × price
}

// Filter selects receipts; zero fields select everything.
type Filter struct {
	Since, Until time.Time
	Node, Model  string
	ClientID     string // the operator whose jobs these are (Store.Client sets it)
	Limit        int    // newest first when set
}

// Bucket is one time slot of the Activity view and of `earnings --by day`.
type Bucket struct {
	Start    time.Time `json:"start"`
	Jobs     int       `json:"jobs"`
	Tokens   int64     `json:"tokens"`
	Earnings float64   `json:"earnings"`
}

// NodePoint is one node's performance in one time slot (ok chat jobs only).
type NodePoint struct {
	Start        time.Time     `json:"start"`
	TokensPerSec float64       `json:"tokens_per_sec"` // mean over the slot's jobs
	TTFT         time.Duration `json:"ttft_ns"`        // mean over the slot's streamed jobs
	Jobs         int           `json:"jobs"`
}

// Activity is what the desktop app's Activity view draws, for a window ending now.
type Activity struct {
	From     time.Time              `json:"from"`
	To       time.Time              `json:"to"`
	Hourly   []Bucket               `json:"hourly"`   // one per hour of the window, oldest first, empty hours included
	Daily    []Bucket               `json:"daily"`    // one per local day of the window, oldest first, empty days included
	Nodes    map[string][]NodePoint `json:"nodes"`    // per node alias, hourly, hours without jobs left out
	Outcomes map[string]int         `json:"outcomes"` // jobs by outcome over the window
}

// Earning is one group of `earnings --by day|node|model`.
type Earning struct {
	Key              string  `json:"key"` // the local day (2006-01-02), the node alias or the model
	Jobs             int     `json:"jobs"`
	OK               int     `json:"ok"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	Earnings         float64 `json:"earnings"`
}

// Groupings of Earnings.
const (
	ByDay   = "day"
	ByNode  = "node"
	ByModel = "model"
)
