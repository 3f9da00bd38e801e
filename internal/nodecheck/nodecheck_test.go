package nodecheck

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/pin-client/pin-client/internal/config"
)

func TestUnreachableBackendIsAnErrorWithAFix(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // a closed port: nothing answers there
	ps := For(nil)(context.Background(), config.Node{InferenceURI: "http://" + addr, APIMode: "ollama"})
	if len(ps) == 0 || ps[0].Severity != "error" || ps[0].Fix == "" || !strings.Contains(ps[0].Message+ps[0].Fix, addr) {
		t.Fatalf("problems = %+v", ps)
	}
}
