// Package protocol is the PIN gateway wire protocol (shared/pin-protocol.md §3–§4) in one
// place: every message type in both directions, the request signature, and the secret
// type that never prints.
//
// Messages are plain structs without their "type" field; Encode adds it and Decode reads
// it. Optional fields are omitted, never null (L5). Decode tolerates unknown fields and
// returns *Unknown for unknown types, so a newer gateway never breaks an older client.
package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Message type names (the "type" discriminator).
const (
	// server → client
	TypeAuthSuccess       = "AUTH_SUCCESS"
	TypeError             = "ERROR"
	TypePing              = "PING"
	TypeHeartbeatAck      = "HEARTBEAT_ACK"
	TypeModelListAck      = "MODEL_LIST_ACK"
	TypeResultAck         = "RESULT_ACK"
	TypeRegisterNodeAck   = "REGISTER_NODE_ACK"
	TypeUpdateWalletAck   = "UPDATE_WALLET_ACK"
	TypeInferenceRequest  = "INFERENCE_REQUEST"
	TypeTTSRequest        = "TTS_REQUEST"
	TypeInterviewRequest  = "INTERVIEW_REQUEST"
	TypeInterviewComplete = "INTERVIEW_COMPLETE"
	TypeInterviewFailed   = "INTERVIEW_FAILED"
	TypeCancelRequest     = "CANCEL_REQUEST"

	// client → server
	TypeAuth              = "AUTH"
	TypeUpdateWallet      = "UPDATE_WALLET"
	TypeRegisterNode      = "REGISTER_NODE"
	TypeModelList         = "MODEL_LIST"
	TypeHeartbeat         = "HEARTBEAT"
	TypePong              = "PONG"
	TypeInferenceChunk    = "INFERENCE_CHUNK"
	TypeInferenceResponse = "INFERENCE_RESPONSE"
	TypeInferenceError    = "INFERENCE_ERROR"
	TypeTTSResponse       = "TTS_RESPONSE"
	TypeTTSError          = "TTS_ERROR"
	TypeInterviewResult   = "INTERVIEW_RESULT"
)

// Message is any wire message.
type Message interface {
	MsgType() string
}

// ---- server → client ----

// AuthSuccess confirms authentication. The SSE body shape is not known for sure
// (§3.4), so both snake_case and camelCase spellings are accepted and all are optional.
type AuthSuccess struct {
	OperatorID string  `json:"operator_id"`
	NodeID     *string `json:"node_id"` // null from the server
	Message    string  `json:"message"`
}

func (m *AuthSuccess) UnmarshalJSON(b []byte) error {
	var v struct {
		OperatorID  string  `json:"operator_id"`
		OperatorID2 string  `json:"operatorId"`
		NodeID      *string `json:"node_id"`
		Message     string  `json:"message"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	m.OperatorID = v.OperatorID
	if m.OperatorID == "" {
		m.OperatorID = v.OperatorID2
	}
	m.NodeID, m.Message = v.NodeID, v.Message
	return nil
}

// Error is fatal for the session.
type Error struct {
	Message string `json:"message"`
}

type Ping struct{}
type HeartbeatAck struct{}
type ModelListAck struct{}

// ResultAck acknowledges a posted result; RequestID may be absent (L6).
type ResultAck struct {
	RequestID string `json:"request_id,omitempty"`
}

// RegisterNodeAck tells the server's id for a registered alias.
type RegisterNodeAck struct {
	NodeID  string   `json:"node_id"`
	Alias   string   `json:"alias"`
	Models  []string `json:"models"`
	Created bool     `json:"created"`
	Message string   `json:"message"`
}

// MarshalJSON sends an empty list as [], never null.
func (m RegisterNodeAck) MarshalJSON() ([]byte, error) {
	type plain RegisterNodeAck
	if m.Models == nil {
		m.Models = []string{}
	}
	return json.Marshal(plain(m))
}

type UpdateWalletAck struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
}

// InferenceRequest carries its payload raw, so that a payload that does not parse can
// still be answered with an INFERENCE_ERROR for its request_id (G4).
type InferenceRequest struct {
	RequestID string          `json:"request_id"`
	Payload   json.RawMessage `json:"payload"`
}

// InferencePayload is INFERENCE_REQUEST.payload (§4.2.1). Messages, Tools and
// ToolChoice stay raw JSON.
type InferencePayload struct {
	Model       string          `json:"model"`
	Messages    json.RawMessage `json:"messages"`
	Stream      bool            `json:"stream,omitempty"`
	Temperature *float64        `json:"temperature,omitempty"`
	MaxTokens   *int            `json:"max_tokens,omitempty"`
	Tools       json.RawMessage `json:"tools,omitempty"`
	ToolChoice  json.RawMessage `json:"tool_choice,omitempty"`
}

// TTSRequest carries its payload raw for the same reason as InferenceRequest.
type TTSRequest struct {
	RequestID string          `json:"request_id"`
	Payload   json.RawMessage `json:"payload"`
}

// TTSPayload is TTS_REQUEST.payload (§4.2.2). Model arrives without the "tts:" prefix.
type TTSPayload struct {
	Model          string   `json:"model"`
	Input          string   `json:"input"`
	Voice          string   `json:"voice,omitempty"`           // default "default"
	ResponseFormat string   `json:"response_format,omitempty"` // default "mp3"
	Speed          *float64 `json:"speed,omitempty"`
}

// InterviewRequest asks for a quality interview of one node.
type InterviewRequest struct {
	InterviewID string   `json:"interview_id"`
	NodeID      string   `json:"node_id,omitempty"`
	Model       string   `json:"model"`
	Prompts     []Prompt `json:"prompts"`
	TimeoutMs   int64    `json:"timeout_ms,omitempty"`
}

// MarshalJSON sends an empty list as [], never null.
func (m InterviewRequest) MarshalJSON() ([]byte, error) {
	type plain InterviewRequest
	if m.Prompts == nil {
		m.Prompts = []Prompt{}
	}
	return json.Marshal(plain(m))
}

// Prompt is one interview question. MaxTokens is kept on the wire but never applied (L8).
type Prompt struct {
	ID        string `json:"id"`
	Prompt    string `json:"prompt"`
	MaxTokens int    `json:"max_tokens,omitempty"`
}

// InterviewComplete reports the tier the gateway gave a node.
type InterviewComplete struct {
	InterviewID  string  `json:"interview_id"`
	NodeID       string  `json:"node_id,omitempty"`
	Tier         string  `json:"tier"`
	Accuracy     float64 `json:"accuracy"`
	TokensPerSec float64 `json:"tokens_per_sec"`
	Reason       string  `json:"reason"`
}

// InterviewFailed: all fields optional; the server closes the connection right after.
type InterviewFailed struct {
	NodeID            string   `json:"node_id,omitempty"`
	Reason            string   `json:"reason,omitempty"`
	Message           string   `json:"message,omitempty"`
	RetryAfterSeconds *uint64  `json:"retry_after_seconds,omitempty"`
	RequiredModels    []string `json:"required_models,omitempty"`
}

// CancelRequest is listed only by pin-relay's HANDSHAKE.md; handled if it ever comes.
type CancelRequest struct {
	RequestID string `json:"request_id"`
}

// ---- client → server ----

// Auth is the first WebSocket frame. Timestamp is a decimal string.
type Auth struct {
	ClientID  string `json:"client_id"`
	Timestamp string `json:"timestamp"`
	Signature string `json:"signature"`
}

type UpdateWallet struct {
	PayoutAddress string `json:"payout_address"`
}

// RegisterNode announces one node. Models is never null. APIMode is sent on SSE only.
type RegisterNode struct {
	Alias                  string   `json:"alias"`
	Models                 []string `json:"models"`
	Capacity               int      `json:"capacity"`
	Region                 string   `json:"region"`
	PricePerThousandTokens float64  `json:"pricePerThousandTokens"`
	InterviewModel         string   `json:"interviewModel,omitempty"`
	APIMode                string   `json:"apiMode,omitempty"`
}

func (m RegisterNode) MarshalJSON() ([]byte, error) {
	type plain RegisterNode
	if m.Models == nil {
		m.Models = []string{}
	}
	return json.Marshal(plain(m))
}

type ModelList struct {
	Models []string `json:"models"`
}

// MarshalJSON sends an empty list as [], never null.
func (m ModelList) MarshalJSON() ([]byte, error) {
	type plain ModelList
	if m.Models == nil {
		m.Models = []string{}
	}
	return json.Marshal(plain(m))
}

type Heartbeat struct{}
type Pong struct{}

// InferenceChunk is one streamed delta. Kind is always set (L23).
type InferenceChunk struct {
	RequestID string `json:"request_id"`
	Index     int    `json:"index"`
	Delta     string `json:"delta"`
	Kind      string `json:"kind"`
}

// InferenceResponse is the terminal success; Result is the OpenAI-shaped object.
type InferenceResponse struct {
	RequestID string          `json:"request_id"`
	Result    json.RawMessage `json:"result"`
}

type InferenceError struct {
	RequestID string `json:"request_id"`
	Error     string `json:"error"`
}

type TTSResponse struct {
	RequestID string    `json:"request_id"`
	Result    TTSResult `json:"result"`
}

type TTSResult struct {
	Model       string `json:"model"`
	Voice       string `json:"voice"`
	Format      string `json:"format"`
	ContentType string `json:"content_type"`
	Bytes       int    `json:"bytes"`
	AudioB64    string `json:"audio_b64"`
}

type TTSError struct {
	RequestID string `json:"request_id"`
	Error     string `json:"error"`
}

// InterviewResult answers an interview; it has no request_id.
type InterviewResult struct {
	InterviewID string         `json:"interview_id"`
	Model       string         `json:"model"`
	Results     []PromptResult `json:"results"`
}

// MarshalJSON sends an empty list as [], never null.
func (m InterviewResult) MarshalJSON() ([]byte, error) {
	type plain InterviewResult
	if m.Results == nil {
		m.Results = []PromptResult{}
	}
	return json.Marshal(plain(m))
}

type PromptResult struct {
	PromptID        string `json:"prompt_id"`
	Response        string `json:"response"`
	TTFTMs          int64  `json:"ttft_ms"`
	TotalMs         int64  `json:"total_ms"`
	TokensGenerated int    `json:"tokens_generated"`
	Error           string `json:"error,omitempty"`
}

func (*AuthSuccess) MsgType() string       { return TypeAuthSuccess }
func (*Error) MsgType() string             { return TypeError }
func (*Ping) MsgType() string              { return TypePing }
func (*HeartbeatAck) MsgType() string      { return TypeHeartbeatAck }
func (*ModelListAck) MsgType() string      { return TypeModelListAck }
func (*ResultAck) MsgType() string         { return TypeResultAck }
func (*RegisterNodeAck) MsgType() string   { return TypeRegisterNodeAck }
func (*UpdateWalletAck) MsgType() string   { return TypeUpdateWalletAck }
func (*InferenceRequest) MsgType() string  { return TypeInferenceRequest }
func (*TTSRequest) MsgType() string        { return TypeTTSRequest }
func (*InterviewRequest) MsgType() string  { return TypeInterviewRequest }
func (*InterviewComplete) MsgType() string { return TypeInterviewComplete }
func (*InterviewFailed) MsgType() string   { return TypeInterviewFailed }
func (*CancelRequest) MsgType() string     { return TypeCancelRequest }
func (*Auth) MsgType() string              { return TypeAuth }
func (*UpdateWallet) MsgType() string      { return TypeUpdateWallet }
func (*RegisterNode) MsgType() string      { return TypeRegisterNode }
func (*ModelList) MsgType() string         { return TypeModelList }
func (*Heartbeat) MsgType() string         { return TypeHeartbeat }
func (*Pong) MsgType() string              { return TypePong }
func (*InferenceChunk) MsgType() string    { return TypeInferenceChunk }
func (*InferenceResponse) MsgType() string { return TypeInferenceResponse }
func (*InferenceError) MsgType() string    { return TypeInferenceError }
func (*TTSResponse) MsgType() string       { return TypeTTSResponse }
func (*TTSError) MsgType() string          { return TypeTTSError }
func (*InterviewResult) MsgType() string   { return TypeInterviewResult }

// Unknown is a message of a type this build does not know. It is logged and skipped.
type Unknown struct {
	Type string
	Raw  json.RawMessage
}

func (u *Unknown) MsgType() string { return u.Type }

var registry = map[string]func() Message{
	TypeAuthSuccess:       func() Message { return new(AuthSuccess) },
	TypeError:             func() Message { return new(Error) },
	TypePing:              func() Message { return new(Ping) },
	TypeHeartbeatAck:      func() Message { return new(HeartbeatAck) },
	TypeModelListAck:      func() Message { return new(ModelListAck) },
	TypeResultAck:         func() Message { return new(ResultAck) },
	TypeRegisterNodeAck:   func() Message { return new(RegisterNodeAck) },
	TypeUpdateWalletAck:   func() Message { return new(UpdateWalletAck) },
	TypeInferenceRequest:  func() Message { return new(InferenceRequest) },
	TypeTTSRequest:        func() Message { return new(TTSRequest) },
	TypeInterviewRequest:  func() Message { return new(InterviewRequest) },
	TypeInterviewComplete: func() Message { return new(InterviewComplete) },
	TypeInterviewFailed:   func() Message { return new(InterviewFailed) },
	TypeCancelRequest:     func() Message { return new(CancelRequest) },
	TypeAuth:              func() Message { return new(Auth) },
	TypeUpdateWallet:      func() Message { return new(UpdateWallet) },
	TypeRegisterNode:      func() Message { return new(RegisterNode) },
	TypeModelList:         func() Message { return new(ModelList) },
	TypeHeartbeat:         func() Message { return new(Heartbeat) },
	TypePong:              func() Message { return new(Pong) },
	TypeInferenceChunk:    func() Message { return new(InferenceChunk) },
	TypeInferenceResponse: func() Message { return new(InferenceResponse) },
	TypeInferenceError:    func() Message { return new(InferenceError) },
	TypeTTSResponse:       func() Message { return new(TTSResponse) },
	TypeTTSError:          func() Message { return new(TTSError) },
	TypeInterviewResult:   func() Message { return new(InterviewResult) },
}

// ErrMalformed wraps every Decode failure.
var ErrMalformed = errors.New("malformed message")

// Decode parses one JSON message. Unknown types come back as *Unknown, not an error.
// A known type whose fields have the wrong JSON types is an error wrapping ErrMalformed;
// for INFERENCE_REQUEST and TTS_REQUEST the payload is kept raw, so those almost always
// decode and can be answered.
func Decode(b []byte) (Message, error) {
	var env struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if env.Type == "" {
		return nil, fmt.Errorf("%w: no \"type\" field", ErrMalformed)
	}
	mk, ok := registry[env.Type]
	if !ok {
		return &Unknown{Type: env.Type, Raw: append(json.RawMessage(nil), b...)}, nil
	}
	m := mk()
	if err := json.Unmarshal(b, m); err != nil {
		return m, fmt.Errorf("%w: %s: %v", ErrMalformed, env.Type, err)
	}
	return m, nil
}

// Encode serialises m with its "type" field first.
func Encode(m Message) ([]byte, error) {
	if u, ok := m.(*Unknown); ok {
		return u.Raw, nil
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.MsgType(), err)
	}
	return splice(m.MsgType(), body), nil
}

func splice(typ string, body []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(body) + len(typ) + 12)
	buf.WriteString(`{"type":"`)
	buf.WriteString(typ)
	buf.WriteByte('"')
	if len(body) > 2 { // not "{}"
		buf.WriteByte(',')
		buf.Write(body[1:])
	} else {
		buf.WriteByte('}')
	}
	return buf.Bytes()
}
