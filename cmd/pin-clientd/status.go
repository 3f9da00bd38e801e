package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pin-client/pin-client/backends/detect"
	"github.com/pin-client/pin-client/core"
	"github.com/pin-client/pin-client/internal/config"
	"github.com/pin-client/pin-client/internal/nodecheck"
)

func init() {
	subcommands["status"] = subcommand{run: runStatus, summary: "one-screen health check: config, secret, each node's backend, the service"}
}

// statusReport is what `pin-clientd status` found. It never holds the secret.
type statusReport struct {
	// Engine is the running engine's live state, nil when none answers (EngineNote says so).
	Engine     *liveEngine `json:"engine,omitempty"`
	EngineNote string      `json:"engineNote,omitempty"`

	Config   string         `json:"config"`
	ConfigOK bool           `json:"configOk"`
	Problems []string       `json:"problems,omitempty"` // config errors and warnings
	Secret   string         `json:"secret"`             // where it comes from, or why not
	SecretOK bool           `json:"secretOk"`
	Service  string         `json:"service"`
	Nodes    []statusNode   `json:"nodes,omitempty"`
	Gateway  map[string]any `json:"gateway,omitempty"`
}

type statusNode struct {
	Alias    string   `json:"alias"`
	URL      string   `json:"url"`
	APIMode  string   `json:"apiMode"`
	Models   []string `json:"models"`
	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"` // "severity: message: fix"
}

// statusTimeout bounds the whole check; backends are asked in parallel.
const statusTimeout = 5 * time.Second

// runStatus is `pin-clientd status [-c config.json] [--json]`. It changes nothing and
// never prints the secret. Exit status 1 when something would stop the daemon from
// serving (a config error, no secret, a node whose backend cannot serve).
func runStatus(ctx context.Context, args []string, io cmdIO) error {
	fs := flag.NewFlagSet("pin-clientd status", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	var path, socket string
	var asJSON bool
	fs.StringVar(&socket, "control-socket", "", "control API endpoint of the engine (default: the system service's, then your own)")
	for _, n := range []string{"c", "config"} {
		fs.StringVar(&path, n, "config.json", "config file")
	}
	fs.BoolVar(&asJSON, "json", false, "print JSON for scripts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; run `pin-clientd status -h`", fs.Arg(0))
	}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	rep := checkStatus(ctx, path, io)
	rep.Engine, rep.EngineNote = liveStatus(ctx, controlFlags{socket: socket}, io)
	if asJSON {
		enc := json.NewEncoder(io.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		writeStatus(io, rep)
	}
	if !rep.healthy() {
		return errSilent
	}
	return nil
}

func (r *statusReport) healthy() bool {
	if !r.ConfigOK || !r.SecretOK {
		return false
	}
	if r.Engine != nil && r.Engine.State == core.StateAuthRejected.String() {
		return false
	}
	for _, n := range r.Nodes {
		if !n.OK {
			return false
		}
	}
	return true
}

func checkStatus(ctx context.Context, path string, io cmdIO) *statusReport {
	rep := &statusReport{Config: path}
	if abs, err := filepath.Abs(path); err == nil {
		rep.Config = abs
	}
	rep.Service = serviceLine(io)
	cfg, warnings, err := config.Load(path, nil)
	rep.Problems = warnings
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("not found: write one with `pin-clientd init`, or pass -c PATH")
		}
		rep.Problems = append(rep.Problems, err.Error())
		rep.Secret = "not checked (no usable config)"
		return rep
	}
	rep.ConfigOK = true
	if _, src, err := daemonSecret(cfg, path, io, slog.New(slog.DiscardHandler)); err != nil {
		rep.Secret = err.Error()
	} else {
		rep.Secret, rep.SecretOK = src, true
	}
	rep.Gateway = map[string]any{"serverUrl": cfg.ServerURL, "transport": cfg.Transport}
	rep.Nodes = make([]statusNode, len(cfg.Nodes))
	var wg sync.WaitGroup
	for i, n := range cfg.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := nodecheck.Check(ctx, n, detect.Options{})
			sn := statusNode{Alias: n.Alias, URL: n.InferenceURI, APIMode: n.APIMode, Models: r.Models, OK: r.OK()}
			for _, p := range r.Problems {
				line := string(p.Severity) + ": " + p.Message
				if p.Fix != "" {
					line += ": " + p.Fix
				}
				sn.Problems = append(sn.Problems, line)
			}
			rep.Nodes[i] = sn
		}()
	}
	wg.Wait()
	return rep
}

// serviceLine says whether the background service is installed and running.
func serviceLine(io cmdIO) string {
	m, user, err := pickManager(false, io)
	if err != nil {
		return "unknown: " + err.Error()
	}
	st, err := m.Status()
	kind := "system"
	if user {
		kind = "user"
	}
	if err != nil {
		return fmt.Sprintf("%s (%s service): %v", st, kind, err)
	}
	return fmt.Sprintf("%s (%s service, %s)", st, kind, m.Platform())
}

func writeStatus(io cmdIO, r *statusReport) {
	w := io.Stdout
	mark := func(ok bool) string {
		if ok {
			return "ok  "
		}
		return "FAIL"
	}
	writeLive(w, r.Engine, r.EngineNote)
	fmt.Fprintf(w, "%s config   %s\n", mark(r.ConfigOK), r.Config)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "         - %s\n", p)
	}
	fmt.Fprintf(w, "%s secret   %s\n", mark(r.SecretOK), r.Secret)
	if r.Gateway != nil {
		fmt.Fprintf(w, "     gateway  %v (transport %v)\n", r.Gateway["serverUrl"], r.Gateway["transport"])
	}
	for _, n := range r.Nodes {
		models := "no models"
		if len(n.Models) > 0 {
			models = strings.Join(n.Models, ", ")
		}
		fmt.Fprintf(w, "%s node     %s  %s (%s): %s\n", mark(n.OK), n.Alias, n.URL, n.APIMode, models)
		for _, p := range n.Problems {
			fmt.Fprintf(w, "         - %s\n", p)
		}
	}
	fmt.Fprintf(w, "     service  %s\n", r.Service)
	if r.healthy() {
		fmt.Fprintln(w, "Ready to go online: pin-clientd -c "+r.Config+" (or pin-clientd selftest for a dry run)")
	}
}
