package transport

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pin-client/pin-client/core/protocol"
)

// A heartbeat answered 403 "unknown stream token" says the session is gone
// (ErrSessionGone, ending it at once); a 502 from a load balancer does not (issue 11 #3).
func TestSSEHeartbeatSessionGone(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		gone   bool
	}{
		{http.StatusForbidden, "unknown or expired X-PIN-Stream-Token: reconnect", true},
		{http.StatusUnauthorized, "bad signature", true},
		{http.StatusNotFound, "stream token not found", true},
		{http.StatusBadGateway, "<html>502 Bad Gateway</html>", false},
		{http.StatusNotFound, "no route", false},
	} {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /stream/connect", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-PIN-Stream-Token", "pst_test")
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
		mux.HandleFunc("POST /stream/heartbeat", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, tc.body, tc.status)
		})
		srv := httptest.NewServer(mux)
		c, err := DialSSE(context.Background(), Options{ServerURL: srv.URL, ClientID: "op", Secret: protocol.NewSecret("pin_sk_fake")})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Heartbeat(context.Background())
		c.Close()
		srv.Close()
		if err == nil || errors.Is(err, ErrSessionGone) != tc.gone {
			t.Errorf("%d %q: err = %v, want session gone = %v", tc.status, tc.body, err, tc.gone)
		}
	}
}
