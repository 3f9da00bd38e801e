package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// PauseRequest is the body of POST /v1/pause: at most one of Until (RFC 3339) and For
// (a Go duration such as "1h30m"); neither pauses until POST /v1/resume.
type PauseRequest struct {
	Until time.Time `json:"until,omitzero"`
	For   string    `json:"for,omitempty"`
}

// PauseAnswer is the answer of POST /v1/pause: when the pause ends (absent: until resumed).
type PauseAnswer struct {
	OK    bool      `json:"ok"`
	Until time.Time `json:"until,omitzero"`
}

// maxPause bounds a pause with an end (a typo such as "--for 1000h" is refused).
const maxPause = 31 * 24 * time.Hour

func (s *Server) addPauseRoutes(p string) {
	s.routes[p+"pause"] = route{http.MethodPost, s.servePause}
	s.routes[p+"resume"] = route{http.MethodPost, s.command("resume", func(e Engine) { e.Resume() })}
}

// ParsePause checks a pause request at now and returns its end (zero: until resumed).
func ParsePause(req PauseRequest, now time.Time) (time.Time, error) {
	switch {
	case req.For != "" && !req.Until.IsZero():
		return time.Time{}, errors.New(`give "until" or "for", not both`)
	case req.For != "":
		d, err := time.ParseDuration(req.For)
		if err != nil || d <= 0 {
			return time.Time{}, fmt.Errorf(`"for": %q is not a positive duration; use e.g. "1h" or "30m"`, clip(req.For))
		}
		if d > maxPause {
			return time.Time{}, fmt.Errorf(`"for": %s is longer than %d days; pause until resumed instead (no "for")`, d, int(maxPause.Hours()/24))
		}
		return now.Add(d), nil
	case !req.Until.IsZero():
		if !req.Until.After(now) {
			return time.Time{}, fmt.Errorf(`"until": %s is not in the future`, req.Until.Format(time.RFC3339))
		}
		if req.Until.Sub(now) > maxPause {
			return time.Time{}, fmt.Errorf(`"until": %s is more than %d days away; pause until resumed instead (no "until")`, req.Until.Format(time.RFC3339), int(maxPause.Hours()/24))
		}
		return req.Until, nil
	}
	return time.Time{}, nil
}

func (s *Server) servePause(w http.ResponseWriter, r *http.Request) {
	var req PauseRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "pause: the body must be {} or {\"until\": \"<RFC 3339 time>\"} or {\"for\": \"1h\"}: "+oneLine(err.Error()))
		return
	}
	until, err := ParsePause(req, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, "pause: "+err.Error())
		return
	}
	s.log.Info("control API request", "command", "pause", "until", until)
	s.eng.Pause(until)
	writeJSON(w, http.StatusAccepted, PauseAnswer{OK: true, Until: until})
}

// ---- client ----

// Pause asks the engine to pause until until (zero: until resumed); failures are logged.
func (c *Client) Pause(until time.Time) {
	c.fire("pause", func(ctx context.Context) error { _, err := c.RequestPause(ctx, until); return err })
}

// Resume asks the engine to end a pause; failures are logged.
func (c *Client) Resume() { c.fire("resume", c.RequestResume) }

// RequestPause asks the engine to pause until until (zero: until resumed) and returns
// the end it accepted.
func (c *Client) RequestPause(ctx context.Context, until time.Time) (time.Time, error) {
	body, err := json.Marshal(PauseRequest{Until: until})
	if err != nil {
		return time.Time{}, err
	}
	var ans PauseAnswer
	if err := c.postBody(ctx, "pause", body, http.StatusAccepted, &ans); err != nil {
		return time.Time{}, err
	}
	return ans.Until, nil
}

// RequestResume asks the engine to end a pause.
func (c *Client) RequestResume(ctx context.Context) error {
	return c.post(ctx, "resume", http.StatusAccepted)
}

// postBody POSTs a JSON body and decodes the answer into v (as do, with a body).
func (c *Client) postBody(ctx context.Context, path string, body []byte, want int, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+Host+"/"+APIVersion+"/"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set(VersionHeader, APIVersion)
	req.Header.Set("User-Agent", "pin-client-control/"+APIVersion)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		return fmt.Errorf("connect to the engine at %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode != want {
		var eb errorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("engine answered %s", resp.Status)
		}
		return &StatusError{Code: resp.StatusCode, Message: eb.Error}
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("decode the engine's %s answer: %w", path, err)
		}
	}
	return nil
}
