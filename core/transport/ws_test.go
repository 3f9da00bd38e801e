package transport

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pin-client/pin-client/core/protocol"
)

// silentGateway accepts AUTH, answers AUTH_SUCCESS, then sends only protocol pings
// every pingEvery (never, when 0) until the test ends.
func silentGateway(t *testing.T, pingEvery time.Duration) string {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if _, _, err := ws.ReadMessage(); err != nil { // AUTH
			return
		}
		ok, _ := protocol.Encode(&protocol.AuthSuccess{OperatorID: "op"})
		ws.WriteMessage(websocket.TextMessage, ok)
		go func() { // drain what the client sends (pongs, heartbeats)
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		var tick <-chan time.Time
		if pingEvery > 0 {
			tk := time.NewTicker(pingEvery)
			defer tk.Stop()
			tick = tk.C
		}
		for {
			select {
			case <-done:
				return
			case <-tick:
				if ws.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(time.Second)) != nil {
					return
				}
			}
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/pin/ws"
}

func TestWSSilentLinkIsDeclaredDead(t *testing.T) {
	old := wsIdleTimeout
	wsIdleTimeout = 150 * time.Millisecond
	t.Cleanup(func() { wsIdleTimeout = old })

	t.Run("silent", func(t *testing.T) {
		c, err := DialWS(context.Background(), Options{ServerURL: silentGateway(t, 0), ClientID: "op", Secret: protocol.NewSecret("s")})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = c.Recv(ctx)
		if err == nil || !strings.Contains(err.Error(), "nothing from the gateway") {
			t.Fatalf("Recv on a silent link = %v", err)
		}
	})
	t.Run("pinged", func(t *testing.T) {
		c, err := DialWS(context.Background(), Options{ServerURL: silentGateway(t, 30*time.Millisecond), ClientID: "op", Secret: protocol.NewSecret("s")})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond) // 4× the idle timeout
		defer cancel()
		if _, err = c.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Recv on a pinged link = %v, want it alive until ctx ends", err)
		}
	})
}
