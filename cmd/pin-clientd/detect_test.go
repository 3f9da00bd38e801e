package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// setupTestIO is a cmdIO over buffers with an empty environment and no terminal.
func setupTestIO() (cmdIO, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return cmdIO{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Env:          func(string) string { return "" },
		IsTerminal:   func() bool { return false },
		ReadPassword: func() ([]byte, error) { return nil, errors.New("no terminal") },
	}, &out, &errb
}

func TestDetectAndInitAreSubcommands(t *testing.T) {
	for _, name := range []string{"detect", "init"} {
		sc, ok := subcommands[name]
		if !ok || sc.run == nil || sc.summary == "" {
			t.Errorf("%q is not registered as a subcommand", name)
		}
	}
}

// The adapter hands the command its I/O: help goes to the given Stderr, and a bad flag
// comes back as an error without touching the network.
func TestDetectUsesGivenIO(t *testing.T) {
	io, _, errb := setupTestIO()
	if err := dispatch(context.Background(), []string{"detect", "-h"}, io); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("detect -h: %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(errb.String(), "Usage: pin-clientd detect") {
		t.Errorf("usage not on the given stderr: %q", errb)
	}
	io, _, _ = setupTestIO()
	err := runDetect(context.Background(), []string{"--port", "x"}, io)
	if err == nil || !strings.Contains(err.Error(), `--port "x"`) {
		t.Errorf("bad port: %v", err)
	}
}
