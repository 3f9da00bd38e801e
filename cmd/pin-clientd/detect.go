package main

import (
	"context"
	"os"

	"github.com/pin-client/pin-client/internal/setupcli"
)

func init() {
	subcommands["detect"] = subcommand{run: runDetect, summary: "find local LLM servers, their models and apiMode (--json for scripts)"}
}

// runDetect is `pin-clientd detect [--host H]... [--port P]... [--json] [--timeout D]
// [--api-key T]`; see setupcli.Detect.
func runDetect(ctx context.Context, args []string, io cmdIO) error {
	return setupcli.Detect(ctx, args, setupIO(io))
}

// setupIO hands the process's I/O to the setup commands.
func setupIO(io cmdIO) setupcli.IO {
	return setupcli.IO{
		Stdin: io.Stdin, Stdout: io.Stdout, Stderr: io.Stderr,
		Env: io.Env, IsTerminal: io.IsTerminal, Hostname: os.Hostname,
	}
}
