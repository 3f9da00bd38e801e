package main

import (
	"context"

	"github.com/pin-client/pin-client/internal/setupcli"
)

func init() {
	subcommands["init"] = subcommand{run: runInit, summary: "write config.json for the LLM servers found here (never the secret)"}
}

// runInit is `pin-clientd init [-c config.json] [--force] [--region R] [--client-id ID]
// [--url U] ...`; see setupcli.Init.
func runInit(ctx context.Context, args []string, io cmdIO) error {
	return setupcli.Init(ctx, args, setupIO(io))
}
