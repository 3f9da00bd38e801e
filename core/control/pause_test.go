package control

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParsePause(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		req  PauseRequest
		want time.Time
		err  string
	}{
		{PauseRequest{}, time.Time{}, ""},
		{PauseRequest{For: "1h"}, now.Add(time.Hour), ""},
		{PauseRequest{Until: now.Add(20 * time.Hour)}, now.Add(20 * time.Hour), ""},
		{PauseRequest{For: "soon"}, time.Time{}, `"for": "soon" is not a positive duration`},
		{PauseRequest{For: "-1h"}, time.Time{}, "not a positive duration"},
		{PauseRequest{For: "1000h"}, time.Time{}, "longer than 31 days"},
		{PauseRequest{Until: now.Add(-time.Minute)}, time.Time{}, "is not in the future"},
		{PauseRequest{For: "1h", Until: now.Add(time.Hour)}, time.Time{}, "not both"},
	} {
		got, err := ParsePause(c.req, now)
		if c.err == "" && (err != nil || !got.Equal(c.want)) {
			t.Errorf("%+v: %v, %v; want %v", c.req, got, err, c.want)
		}
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%+v: err %v, want %q", c.req, err, c.err)
		}
	}
}

func TestPauseResumeEndpoints(t *testing.T) {
	f := newFake()
	h := serve(t, f, nil)
	ctx := ctx10(t)
	until := time.Now().Add(time.Hour).Truncate(time.Second).UTC()
	got, err := h.c.RequestPause(ctx, until)
	if err != nil || !got.Equal(until) {
		t.Fatalf("RequestPause = %v, %v", got, err)
	}
	if c := <-f.calls; c != "pause until "+until.Format(time.RFC3339) {
		t.Fatalf("engine got %q", c)
	}
	if _, err := h.c.RequestPause(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if c := <-f.calls; c != "pause" {
		t.Fatalf("engine got %q", c)
	}
	if err := h.c.RequestResume(ctx); err != nil {
		t.Fatal(err)
	}
	if c := <-f.calls; c != "resume" {
		t.Fatalf("engine got %q", c)
	}
	// A pause in the past and a bad body are refused with one line naming the problem.
	_, err = h.c.RequestPause(ctx, time.Now().Add(-time.Hour))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest || !strings.Contains(se.Message, "not in the future") {
		t.Fatalf("past pause: %v", err)
	}
	err = h.c.postBody(ctx, "pause", []byte(`{"until":"tomorrow"}`), http.StatusAccepted, nil)
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest || strings.Contains(se.Message, "\n") || !strings.Contains(se.Message, "RFC 3339") {
		t.Fatalf("bad body: %v", err)
	}
	select {
	case c := <-f.calls:
		t.Fatalf("a refused pause reached the engine: %q", c)
	default:
	}
}
