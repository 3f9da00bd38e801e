// Command pinprof is pin-clientd's relay engine with net/http/pprof, for diagnosing the
// relay benchmark and nothing else. It wires the engine the way `pin-clientd -c FILE -n N
// -l LEVEL` does (config.Load, backends/auto adapters, the backends/detect node check,
// the daemon's log format), takes the secret only from PIN_API_SECRET, and serves
// /debug/pprof/ (CPU profiles, execution traces) on PINPROF_ADDR, which must be a
// loopback address. Run it in place of the daemon:
//
//	go build -o /tmp/pinprof ./bench/pinprof
//	go run ./bench/relaybench -daemon /tmp/pinprof -daemon-env PINPROF_ADDR=127.0.0.1:6061 -v
//	curl -o ws.trace 'http://127.0.0.1:6061/debug/pprof/trace?seconds=3'   # during a phase
//	go tool trace -pprof=sched ws.trace > sched.pprof                       # where goroutines wait
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // the point of this command
	"os"
	"os/signal"
	"syscall"

	"github.com/pin-client/pin-client/backends/auto"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/core/protocol"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/logging"
	"github.com/pin-client/pin-client/internal/nodecheck"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pinprof:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfgPath := flag.String("c", "config.json", "config file")
	threads := flag.Int("n", 1, "jobs run at once")
	level := flag.String("l", "info", "log level")
	flag.Parse()

	lvl, err := logging.ParseLevel(*level)
	if err != nil {
		return err
	}
	log := slog.New(logging.New(os.Stderr, lvl, false))
	cfg, _, err := config.Load(*cfgPath, log)
	if err != nil {
		return err
	}
	sec := os.Getenv("PIN_API_SECRET")
	if sec == "" {
		return errors.New("PIN_API_SECRET is empty; pinprof takes the secret from the environment only")
	}
	if addr := os.Getenv("PINPROF_ADDR"); addr != "" {
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("PINPROF_ADDR %q: use a loopback host:port such as 127.0.0.1:6061", addr)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("PINPROF_ADDR: %w", err)
		}
		go func() { _ = http.Serve(ln, nil) }() // DefaultServeMux holds /debug/pprof/
		defer ln.Close()
	}
	eng, err := core.New(core.Options{
		Config: cfg, Secret: protocol.NewSecret(sec), SecretSource: "PIN_API_SECRET",
		Threads: *threads, NewBackend: auto.Backend(log), NewSpeaker: auto.Speaker(log),
		CheckNode: nodecheck.For(log),
		Logger:    log,
	})
	if err != nil {
		return err
	}
	return eng.Run(ctx)
}
