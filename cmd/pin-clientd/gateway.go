package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"strings"

	"github.com/pin-client/pin-client/core/pintest"
	"github.com/pin-client/pin-client/internal/secret"
	"github.com/pin-client/pin-client/internal/selftest"
)

func init() {
	subcommands["gateway"] = subcommand{run: runGateway, summary: "serve a local PIN gateway on loopback for development (operator + OpenAI consumer side)"}
}

// DefaultGatewayAddr is where `pin-clientd gateway` listens unless --addr says otherwise.
const DefaultGatewayAddr = "127.0.0.1:8788"

// runGateway is `pin-clientd gateway [--addr 127.0.0.1:8788] [--client-id op_local]
// [--secret-file FILE] [-l info]`: core/pintest served on loopback until ctx ends. It
// prints, one per line on stdout, serverUrl=, clientId=, apiSecret= (or apiSecretFile=)
// and consumerUrl=, then hints starting with "#"; its log goes to stderr and never
// contains the secret.
func runGateway(ctx context.Context, args []string, io cmdIO) error {
	fs := flag.NewFlagSet("pin-clientd gateway", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	var addr, clientID, secretFile, level string
	var interview bool
	fs.StringVar(&addr, "addr", DefaultGatewayAddr, "loopback host:port to listen on (port 0 picks one)")
	fs.StringVar(&clientID, "client-id", "op_local", "the operator clientId the gateway accepts")
	fs.StringVar(&secretFile, "secret-file", "", "file whose first line is the apiSecret to accept (default: a new random one per run)")
	for _, n := range []string{"l", "log-level"} {
		fs.StringVar(&level, n, "info", "trace|debug|info|warn|error")
	}
	fs.BoolVar(&interview, "interview", false, "interview every node that registers (the self-test's prompts), as the real gateway does")
	fs.Usage = func() {
		fmt.Fprint(io.Stderr, `Usage: pin-clientd gateway [--addr 127.0.0.1:8788] [--client-id op_local] [--secret-file FILE] [--interview] [-l info]

Serves a local PIN gateway for development: the operator side (WebSocket and SSE, as the
real gateway) and an OpenAI-compatible consumer side (/v1/models, /v1/chat/completions)
that routes each request to a connected node advertising the model. Loopback only.
Prints the credentials to give pin-clientd; runs until Ctrl-C.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; run `pin-clientd gateway -h`", fs.Arg(0))
	}
	if err := loopbackAddr(addr); err != nil {
		return err
	}
	if strings.TrimSpace(clientID) == "" {
		return fmt.Errorf("--client-id: empty; use e.g. op_local")
	}
	log, err := newLogger(io, level)
	if err != nil {
		return err
	}
	opts := pintest.Options{ClientID: clientID, Logger: log}
	if interview {
		opts.InterviewOnRegister, opts.Grade = selftest.GatewayInterview, selftest.GatewayGrader("local gateway")
	}
	generated := secretFile == ""
	if generated {
		opts.Secret = newDevSecret()
	} else {
		sec, err := secret.ReadFile(secretFile)
		if err != nil {
			return fmt.Errorf("--secret-file: %w", err)
		}
		opts.Secret = sec.Reveal()
	}
	ready := func(g *pintest.Gateway) {
		w := io.Stdout
		fmt.Fprintf(w, "serverUrl=%s\n", g.URL())
		fmt.Fprintf(w, "clientId=%s\n", clientID)
		if generated {
			// A throwaway credential of this run only, valid at this local gateway and
			// nowhere else: printing it is how the developer gets it.
			fmt.Fprintf(w, "apiSecret=%s\n", opts.Secret)
		} else {
			fmt.Fprintf(w, "apiSecretFile=%s\n", secretFile)
		}
		fmt.Fprintf(w, "consumerUrl=%s/v1\n", g.HTTPURL())
		if generated {
			fmt.Fprintln(w, "# apiSecret is a throwaway development secret, new each run and valid only at this local gateway")
		}
		fmt.Fprintf(w, "# point pin-clientd here: \"serverUrl\": %q, \"clientId\": %q, \"transport\": \"sse\" or \"ws\" in a config.json, then PIN_API_SECRET=<apiSecret> pin-clientd -c config.json\n",
			g.URL(), clientID)
		fmt.Fprintln(w, "# consumers: any OpenAI client with base URL consumerUrl and any API key; Ctrl-C stops the gateway")
		log.Info("local gateway listening", "addr", strings.TrimPrefix(g.HTTPURL(), "http://"), "client_id", clientID)
	}
	if err := pintest.Serve(ctx, addr, opts, ready); err != nil {
		return fmt.Errorf("local gateway: %w", err)
	}
	log.Info("local gateway stopped")
	return nil
}

// loopbackAddr accepts host:port with a loopback host (127.0.0.0/8, ::1, localhost).
// The local gateway hands jobs to anyone holding its credentials and serves any
// consumer, so it never listens on a network address.
func loopbackAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("--addr %q: want host:port on loopback, e.g. %s", addr, DefaultGatewayAddr)
	}
	if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--addr %q: the local gateway listens on loopback only (127.0.0.1, ::1 or localhost); it is for development on this machine", addr)
	}
	return nil
}

// newDevSecret is a random throwaway apiSecret for one run of the local gateway.
func newDevSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return "pin_sk_local_" + hex.EncodeToString(b)
}
