package main

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/core/protocol"
)

// annotate adds the gateway's own timestamps to relayed streams: when it sent each
// INFERENCE_REQUEST (after the socket write on WS; when queued for the downlink on SSE)
// and when the first INFERENCE_CHUNK of it arrived. Streams are matched through the
// "bench <id>" message the consumer sent. With them the added time to first token
// splits into the local gateway's part and pin-clientd's part (the time between the
// gateway's socket and the backend's, both ways).
func annotate(gw *pintest.Gateway, rs []streamResult) {
	byID := make(map[string]*streamResult, len(rs))
	for i := range rs {
		byID[rs[i].ID] = &rs[i]
	}
	reqOf := map[string]*streamResult{} // request_id → stream
	for _, f := range gw.Sent() {
		if f.Type != protocol.TypeInferenceRequest {
			continue
		}
		var m protocol.InferenceRequest
		if json.Unmarshal(f.Body, &m) != nil {
			continue
		}
		if r := byID[benchID(m.Payload)]; r != nil {
			reqOf[m.RequestID] = r
			r.GatewayOut = f.Time.Sub(epoch).Nanoseconds()
		}
	}
	for _, f := range gw.Frames() {
		if f.Type != protocol.TypeInferenceChunk {
			continue
		}
		var c struct {
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal(f.Body, &c) != nil {
			continue
		}
		if r := reqOf[c.RequestID]; r != nil && r.GatewayFirst == 0 {
			r.GatewayFirst = f.Time.Sub(epoch).Nanoseconds()
		}
	}
}

// benchID finds the id in an inference payload's "bench <id>" message.
func benchID(payload json.RawMessage) string {
	var p struct {
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
	}
	if json.Unmarshal(payload, &p) != nil || len(p.Messages) == 0 {
		return ""
	}
	id, ok := strings.CutPrefix(p.Messages[0].Content, "bench ")
	if !ok {
		return ""
	}
	return id
}

// relayLegs are the parts of relayed streams' first-token path, for the streams whose
// every timestamp is known: consumer → gateway sent the job; gateway → backend has the
// request (pin-clientd); backend wrote the first token → gateway has the chunk
// (pin-clientd); gateway has it → consumer parsed it.
func relayLegs(rs []streamResult) (gwReq, dReq, dResp, gwResp []time.Duration) {
	for _, r := range rs {
		if r.GatewayOut == 0 || r.GatewayFirst == 0 || r.BackendIn == 0 || r.BackendFirst == 0 {
			continue
		}
		gwReq = append(gwReq, time.Duration(r.GatewayOut-r.Start))
		dReq = append(dReq, time.Duration(r.BackendIn-r.GatewayOut))
		dResp = append(dResp, time.Duration(r.GatewayFirst-r.BackendFirst))
		gwResp = append(gwResp, time.Duration(r.First-r.GatewayFirst))
	}
	return gwReq, dReq, dResp, gwResp
}
