package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pin-client/pin-client/backends/backendtest"
	"github.com/pin-client/pin-client/internal/config"
)

func TestStatusReportsEachPart(t *testing.T) {
	f, _ := secretEnv(t)
	t.Setenv("PATH", t.TempDir()) // no systemctl: the service line says unknown, nothing else depends on it
	be := backendtest.NewOllama(t, backendtest.Answer("hi"))
	be.SetModels("llama3:8b")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	path := filepath.Join(t.TempDir(), "config.json")
	cfg := &config.Config{ClientID: "op_cmdtest", Nodes: []config.Node{
		{Alias: "up", InferenceURI: be.URL, APIMode: "ollama", Region: "us-east", Capacity: 1},
		{Alias: "down", InferenceURI: closed, APIMode: "openai", Region: "us-east", Capacity: 1},
	}}
	if err := cfg.Save(path, false); err != nil {
		t.Fatal(err)
	}

	// no secret anywhere: reported, exit 1 (errSilent), the nodes still checked
	err = runStatus(context.Background(), []string{"-c", path}, f.io())
	if !errors.Is(err, errSilent) {
		t.Fatalf("err = %v", err)
	}
	out := f.stdout.String()
	for _, want := range []string{"ok   config", "FAIL secret", "no API secret", "ok   node     up", "llama3:8b",
		"FAIL node     down", "nothing listens at " + closed} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// with the secret and only the healthy node: exit 0, JSON for scripts, no secret printed
	cfg.Nodes = cfg.Nodes[:1]
	if err := cfg.Save(path, false); err != nil {
		t.Fatal(err)
	}
	f.env["PIN_API_SECRET"] = "pin_sk_status_test_value"
	f.stdout.Reset()
	if err := runStatus(context.Background(), []string{"-c", path, "--json"}, f.io()); err != nil {
		t.Fatalf("healthy status: %v\n%s", err, f.stdout.String())
	}
	var rep statusReport
	if err := json.Unmarshal(f.stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.ConfigOK || !rep.SecretOK || len(rep.Nodes) != 1 || !rep.Nodes[0].OK || !strings.Contains(rep.Secret, "PIN_API_SECRET") {
		t.Fatalf("report = %+v", rep)
	}
	if strings.Contains(f.stdout.String()+f.stderr.String(), "pin_sk_status_test_value") {
		t.Fatal("status printed the secret")
	}
}

func TestStatusWithoutConfig(t *testing.T) {
	f, _ := secretEnv(t)
	t.Setenv("PATH", t.TempDir())
	missing := filepath.Join(t.TempDir(), "nope.json")
	if err := runStatus(context.Background(), []string{"-c", missing}, f.io()); !errors.Is(err, errSilent) {
		t.Fatalf("err = %v", err)
	}
	if out := f.stdout.String(); !strings.Contains(out, "pin-clientd init") {
		t.Fatalf("no fix for a missing config:\n%s", out)
	}
}
