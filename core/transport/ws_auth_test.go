package transport

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/pin-client/pin-client/core/protocol"
)

// An ERROR answering AUTH is bad credentials only when it says so, as on SSE; any
// other ERROR (an overloaded gateway, say) is a plain gateway error that reconnects
// on the normal backoff, not the 1-minute credentials floor (issue 11 #10).
func TestWSAuthErrorClassified(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		auth bool
	}{
		{"Invalid signature", true},
		{"Authentication failed: unknown operator", true},
		{"server overloaded, try again later", false},
		{"internal error", false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer ws.Close()
			if _, _, err := ws.ReadMessage(); err != nil { // AUTH
				return
			}
			e, _ := protocol.Encode(&protocol.Error{Message: tc.msg})
			ws.WriteMessage(websocket.TextMessage, e)
		}))
		url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/pin/ws"
		c, err := DialWS(context.Background(), Options{ServerURL: url, ClientID: "op", Secret: protocol.NewSecret("pin_sk_fake")})
		srv.Close()
		if err == nil {
			c.Close()
			t.Fatalf("%q: dial succeeded", tc.msg)
		}
		if errors.Is(err, ErrAuthRejected) != tc.auth {
			t.Errorf("ERROR %q during auth: err = %v; auth rejected = %v, want %v", tc.msg, err, errors.Is(err, ErrAuthRejected), tc.auth)
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ERROR %q: the gateway's words are missing from %v", tc.msg, err)
		}
	}
}
