// Package config is config.json: the seed pin-clientd format (pin-protocol.md §12),
// camelCase keys, unknown keys accepted with a warning. Load reads and validates once;
// everything after works on a valid *Config.
package config

// Defaults of the original daemon.
const (
	DefaultServerURL          = "wss://aiassist.net/api/v1/pin/ws"
	DefaultReconnectDelaySecs = 5
	DefaultTransport          = "sse"
	DefaultPrice              = 0.001
)

// Regions the gateway documents. Others are accepted with a warning.
var Regions = []string{"us-east", "us-west", "eu-west", "eu-central", "asia-pacific", "global"}

// Config is the root of config.json.
type Config struct {
	ClientID      string `json:"clientId"`
	APISecret     string `json:"apiSecret,omitempty"` // optional since 3.0: env or keyring preferred
	PayoutAddress string `json:"payoutAddress,omitempty"`
	ServerURL     string `json:"serverUrl,omitempty"`
	// ReconnectDelaySecs is the floor of the reconnect backoff, in seconds.
	ReconnectDelaySecs int    `json:"reconnectDelaySecs,omitempty"`
	Transport          string `json:"transport,omitempty"` // "sse" (default) or "ws"
	// AllowInsecure permits a cleartext ws:// or http:// serverUrl to a non-loopback host.
	AllowInsecure bool   `json:"allowInsecure,omitempty"`
	Nodes         []Node `json:"nodes"`
}

// Node is one element of "nodes".
type Node struct {
	Alias        string `json:"alias"`
	InferenceURI string `json:"inferenceUri"`
	APIMode      string `json:"apiMode"` // "ollama" or "openai"
	Region       string `json:"region"`
	Capacity     int    `json:"capacity"`
	// PricePerThousandTokens is USD per 1K tokens; nil means the default 0.001.
	PricePerThousandTokens *float64 `json:"pricePerThousandTokens,omitempty"`
	InterviewModel         string   `json:"interviewModel,omitempty"`
	TTSURI                 string   `json:"ttsUri,omitempty"`
	TTSModels              []string `json:"ttsModels,omitempty"`
}

// Price is the node's price per 1K tokens with the default applied.
func (n *Node) Price() float64 {
	if n.PricePerThousandTokens == nil {
		return DefaultPrice
	}
	return *n.PricePerThousandTokens
}
