package nodecheck

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pin-client/pin-client/backends/detect"
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

// TestCheckUsesTheNodesAPIKey: a server that wants a token is checked with the node's
// apiKey; without it the one-line error says a token is needed.
func TestCheckUsesTheNodesAPIKey(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k3y" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/api/version":
			io.WriteString(w, `{"version":"0.12.6"}`)
		case "/api/tags":
			io.WriteString(w, `{"models":[{"name":"qwen3:4b","model":"qwen3:4b","size":1,"details":{"family":"qwen3"}},{"name":"nomic-embed-text:latest","model":"nomic-embed-text:latest","size":1,"details":{"family":"nomic-bert"}}]}`)
		case "/api/ps":
			io.WriteString(w, `{"models":[]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	n := config.Node{InferenceURI: srv.URL, APIMode: "ollama", APIKey: "k3y"}
	r := Check(context.Background(), n, detect.Options{GPU: func() detect.Tri { return detect.Unknown }})
	if !r.OK() || strings.Join(r.Models, ",") != "nomic-embed-text:latest,qwen3:4b" {
		t.Errorf("with the key: ok %v models %v problems %v", r.OK(), r.Models, r.Problems)
	}
	n.APIKey = ""
	r = Check(context.Background(), n, detect.Options{})
	if r.OK() || !strings.Contains(r.Err(), "requires an API token; fix: ") || strings.Contains(r.Err(), "k3y") {
		t.Errorf("without the key: ok %v err %q", r.OK(), r.Err())
	}
}
