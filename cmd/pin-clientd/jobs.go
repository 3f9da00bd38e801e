package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pin-client/pin-client/internal/enginelock"
	"github.com/pin-client/pin-client/internal/host"
	"github.com/pin-client/pin-client/internal/ledger"
)

func init() {
	subcommands["jobs"] = subcommand{run: runJobs, summary: "the job ledger: one line per job and interview (--since 24h, --node, --json, --csv)"}
	subcommands["earnings"] = subcommand{run: runEarnings, summary: "estimated earnings from the job ledger, by day, node or model (--since 30d)"}
}

// Clocks of the ledger verbs (tests fix them).
var (
	ledgerNow = time.Now
	ledgerLoc = time.Local
)

// ledgerFlags are the flags both ledger verbs take.
type ledgerFlags struct {
	socket, stateDir, since string
	asJSON                  bool
}

func (f *ledgerFlags) register(fs *flag.FlagSet, since string) {
	f.since = since
	fs.StringVar(&f.since, "since", since, "how far back: a duration such as 24h, 90m or 30d")
	fs.StringVar(&f.socket, "control-socket", "", "control API endpoint of the engine (default: the system service's, then your own)")
	fs.StringVar(&f.stateDir, "state-dir", "", "read the ledger file in this state directory instead of asking the engine")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON for scripts")
}

// parseSince is --since: a Go duration or a whole number of days ("30d"), before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	bad := fmt.Errorf("--since %q: want a duration such as 24h, 90m or 30d", s)
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 36500 {
			return time.Time{}, bad
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d < 0 {
			return time.Time{}, bad
		}
	}
	return now.Add(-d), nil
}

// ledgerSource is the running engine's ledger through the control API, else the ledger
// file read directly (read-only): --state-dir, else the system service's state
// directory, then this user's (the order the control verbs ask the engines in).
func ledgerSource(ctx context.Context, f ledgerFlags, io cmdIO) (ledger.Source, func(), error) {
	var findErr error
	if f.stateDir == "" {
		c, _, err := findEngine(ctx, controlFlags{socket: f.socket}, io)
		if err == nil {
			return c, func() {}, nil
		}
		if strings.Contains(err.Error(), "permission denied") {
			findErr = err // an engine runs that we may not ask: say that rather than what the files say
		}
	}
	var dirs []string
	if f.stateDir != "" {
		dirs = []string{f.stateDir}
	} else {
		dirs = append(dirs, enginelock.SystemStateDir())
		if d, err := enginelock.UserStateDir(); err == nil {
			dirs = append(dirs, d)
		}
	}
	var firstErr error
	for _, d := range dirs {
		path := host.LedgerPath(d)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		s, err := ledger.Open(ctx, ledger.Options{Path: path, ReadOnly: true, Location: ledgerLoc, Now: ledgerNow})
		if err == nil {
			return s, func() { s.Close() }, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if findErr != nil {
		return nil, nil, findErr
	}
	if firstErr != nil {
		return nil, nil, firstErr
	}
	return nil, nil, fmt.Errorf("no engine running and no job ledger found (looked for %s); the engine writes it once it serves a job", strings.Join(mapPaths(dirs), ", "))
}

func mapPaths(dirs []string) []string {
	out := make([]string, len(dirs))
	for i, d := range dirs {
		out[i] = filepath.Join(d, ledger.FileName)
	}
	return out
}

// runJobs is `pin-clientd jobs [--since 24h] [--node X] [--model M] [--limit N] [--json | --csv]`.
func runJobs(ctx context.Context, args []string, io cmdIO) error {
	fs := flag.NewFlagSet("pin-clientd jobs", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	var lf ledgerFlags
	lf.register(fs, "24h")
	var f ledger.Filter
	var asCSV bool
	fs.StringVar(&f.Node, "node", "", "only this node (its alias)")
	fs.StringVar(&f.Model, "model", "", "only this model")
	fs.IntVar(&f.Limit, "limit", 0, "at most this many, newest first (0: all)")
	fs.BoolVar(&asCSV, "csv", false, "print CSV for spreadsheets")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; run `pin-clientd jobs -h`", fs.Arg(0))
	}
	if lf.asJSON && asCSV {
		return errors.New("--json and --csv: pick one")
	}
	if f.Limit < 0 {
		return fmt.Errorf("--limit %d: want 0 (all) or more", f.Limit)
	}
	since, err := parseSince(lf.since, ledgerNow())
	if err != nil {
		return err
	}
	f.Since = since
	src, done, err := ledgerSource(ctx, lf, io)
	if err != nil {
		return err
	}
	defer done()
	rs, err := src.Jobs(ctx, f)
	if err != nil {
		return err
	}
	switch {
	case lf.asJSON:
		return writeJSONOut(io.Stdout, rs)
	case asCSV:
		return writeJobsCSV(io.Stdout, rs)
	}
	return writeJobsTable(io.Stdout, rs, ledgerLoc)
}

// runEarnings is `pin-clientd earnings [--by day|node|model] [--since 30d] [--json]`.
func runEarnings(ctx context.Context, args []string, io cmdIO) error {
	fs := flag.NewFlagSet("pin-clientd earnings", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	var lf ledgerFlags
	lf.register(fs, "30d")
	var by string
	fs.StringVar(&by, "by", ledger.ByDay, "group by day (local), node or model")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; run `pin-clientd earnings -h`", fs.Arg(0))
	}
	if err := ledger.CheckBy(by); err != nil {
		return err
	}
	since, err := parseSince(lf.since, ledgerNow())
	if err != nil {
		return err
	}
	src, done, err := ledgerSource(ctx, lf, io)
	if err != nil {
		return err
	}
	defer done()
	es, err := src.Earnings(ctx, by, since)
	if err != nil {
		return err
	}
	if lf.asJSON {
		return writeJSONOut(io.Stdout, es)
	}
	return writeEarningsTable(io.Stdout, es, by)
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func ms(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return d.Round(100 * time.Millisecond).String()
}

func tps(v float64) string {
	if v <= 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func usd(v float64) string { return "$" + strconv.FormatFloat(v, 'f', 6, 64) }

// clipReason keeps a reason on one table line.
func clipReason(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:59]) + "…"
	}
	return s
}

// writeJobsTable prints receipts as an aligned table, newest first, with a totals line.
func writeJobsTable(w io.Writer, rs []ledger.Receipt, loc *time.Location) error {
	if len(rs) == 0 {
		_, err := fmt.Fprintln(w, "no jobs in the ledger for this selection")
		return err
	}
	var buf bytes.Buffer
	tw := newTable(&buf)
	fmt.Fprintln(tw, "TIME\tNODE\tMODEL\tKIND\tOUTCOME\tPROMPT\tCOMPLETION\tTTFT\tDURATION\tTOK/S\tEARNED\tREASON")
	var p, c int64
	var earned float64
	ok := 0
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n",
			r.Time.In(loc).Format(time.DateTime), r.Node, r.Model, r.Kind, r.Outcome, r.PromptTokens, r.CompletionTokens,
			ms(r.TTFT), ms(r.Duration), tps(r.TokensPerSec), usd(r.Earnings), clipReason(r.Reason))
		p, c, earned = p+r.PromptTokens, c+r.CompletionTokens, earned+r.Earnings
		if r.Outcome == ledger.OutcomeOK {
			ok++
		}
	}
	fmt.Fprintf(tw, "TOTAL\t%d jobs\t%d ok\t\t\t%d\t%d\t\t\t\t%s\t\n", len(rs), ok, p, c, usd(earned))
	return flushTable(w, tw, &buf)
}

// writeJobsCSV prints receipts as CSV with a header; times in RFC 3339 (UTC), durations
// in milliseconds.
func writeJobsCSV(w io.Writer, rs []ledger.Receipt) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"time", "request_id", "node", "model", "kind", "outcome", "reason", "prompt_tokens", "completion_tokens",
		"ttft_ms", "duration_ms", "tokens_per_sec", "price_per_1k", "earnings"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, r := range rs {
		cw.Write([]string{r.Time.UTC().Format(time.RFC3339Nano), r.RequestID, r.Node, r.Model, r.Kind, r.Outcome, r.Reason,
			strconv.FormatInt(r.PromptTokens, 10), strconv.FormatInt(r.CompletionTokens, 10),
			strconv.FormatInt(r.TTFT.Milliseconds(), 10), strconv.FormatInt(r.Duration.Milliseconds(), 10),
			strconv.FormatFloat(r.TokensPerSec, 'f', 2, 64), f(r.PricePer1K), f(r.Earnings)})
	}
	cw.Flush()
	return cw.Error()
}

// writeEarningsTable prints earnings groups as an aligned table with a totals line.
func writeEarningsTable(w io.Writer, es []ledger.Earning, by string) error {
	if len(es) == 0 {
		_, err := fmt.Fprintln(w, "no jobs in the ledger for this selection")
		return err
	}
	var buf bytes.Buffer
	tw := newTable(&buf)
	fmt.Fprintf(tw, "%s\tJOBS\tOK\tPROMPT\tCOMPLETION\tEARNED\n", strings.ToUpper(by))
	var t ledger.Earning
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", e.Key, e.Jobs, e.OK, e.PromptTokens, e.CompletionTokens, usd(e.Earnings))
		t.Jobs, t.OK, t.PromptTokens, t.CompletionTokens, t.Earnings = t.Jobs+e.Jobs, t.OK+e.OK, t.PromptTokens+e.PromptTokens, t.CompletionTokens+e.CompletionTokens, t.Earnings+e.Earnings
	}
	fmt.Fprintf(tw, "TOTAL\t%d\t%d\t%d\t%d\t%s\n", t.Jobs, t.OK, t.PromptTokens, t.CompletionTokens, usd(t.Earnings))
	if err := flushTable(w, tw, &buf); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "estimated: (prompt + completion tokens) / 1000 × the node's price, ok jobs only; the gateway's accounting is authoritative")
	return err
}

// newTable is an aligned table writer; flushTable writes it to w without the spaces
// tabwriter leaves after an empty last column.
func newTable(buf *bytes.Buffer) *tabwriter.Writer { return tabwriter.NewWriter(buf, 0, 0, 2, ' ', 0) }

func flushTable(w io.Writer, tw *tabwriter.Writer, buf *bytes.Buffer) error {
	if err := tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	for l := range strings.Lines(buf.String()) {
		body, nl := strings.CutSuffix(l, "\n")
		b.WriteString(strings.TrimRight(body, " "))
		if nl {
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
