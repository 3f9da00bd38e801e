package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pin-client/pin-client/core/pintest"
)

// Flatness tolerances (see README, "Soak"): the end-of-run window against the window
// right after warm-up.
const (
	// The floor (minimum) of each window is compared, not a peak: a leak raises the
	// floor, while the transient spikes of 8 MiB frames (held two or three times while
	// decoded and forwarded) and GOGC=100 (the heap reaches twice the live data before a
	// collection) raise peaks. rssSlackBytes + rssSlackFrac of the start: the Go runtime
	// returns freed memory to the OS lazily (the scavenger works over minutes); a leak of
	// even 10 KiB per job shows up as 30 MiB over a 10-minute run (~3000 jobs), past it.
	rssSlackBytes = 24 << 20
	rssSlackFrac  = 0.25
	// fdSlack: the daemon holds one downlink, up to a few uplink/heartbeat connections
	// to the gateway (SSE lanes) and an idle keep-alive pool per backend (one per slot);
	// which of them happen to be open at a sample varies by a handful. A leak of one FD
	// per reconnect or per job exceeds it within a minute.
	fdSlack = 12
)

// accounting is the load jobs' outcome, taken after settling and before SIGTERM.
type accounting struct {
	jobs, answered, errors, busy int
	duplicates                   []string
	late                         int // jobs with chunks after their terminal answer
	lostFault                    int // on links the gateway cut (reset, restart)
	lostDaemon                   int // on links the daemon ended itself
	liveUnanswered               []string
	kinds                        map[string]int
	sessionsGateway              int
	sessionsDaemon               int
	daemonEndedWithJobs          []string
	interviews, ivAnswered       int
	ivDup, ivLost                int
	ivLive                       []string
}

func (p *phase) account() accounting {
	a := accounting{kinds: map[string]int{}}
	p.mu.Lock()
	jobs := slices.Clone(p.jobs)
	ivs := slices.Clone(p.ivs)
	p.mu.Unlock()
	for _, t := range jobs {
		id := t.job.ID
		a.jobs++
		a.kinds[t.kind]++
		n := p.gw.Terminals(id)
		if n > 1 {
			a.duplicates = append(a.duplicates, fmt.Sprintf("%s (%s) answered %d times", id, t.kind, n))
		}
		if t.job.LateChunks() > 0 {
			a.late++
		}
		if n >= 1 {
			a.answered++
			if res := t.job.Result(); res != nil && !res.OK() {
				a.errors++
				if strings.Contains(res.Err, "busy") {
					a.busy++
				}
			}
			continue
		}
		ended, by, at := p.gw.SessionEnded(t.job.Session())
		switch {
		case !ended:
			a.liveUnanswered = append(a.liveUnanswered, fmt.Sprintf("%s (%s, backend %s, sent %s ago)", id, t.kind, t.mode, time.Since(t.start).Round(time.Second)))
		case by == pintest.EndedByGateway || p.gws.inRestart(at):
			a.lostFault++
		default:
			a.lostDaemon++
		}
	}
	for _, s := range p.gw.EndedSessions() {
		if s.EndedBy == pintest.EndedByGateway || p.gws.inRestart(s.End) {
			a.sessionsGateway++
			continue
		}
		a.sessionsDaemon++
		if s.Unanswered > 0 {
			a.daemonEndedWithJobs = append(a.daemonEndedWithJobs, fmt.Sprintf("session %d (%d jobs)", s.ID, s.Unanswered))
		}
	}
	for _, iv := range ivs {
		a.interviews++
		switch n := p.gw.Terminals(iv.id); {
		case n == 1:
			a.ivAnswered++
		case n > 1:
			a.ivAnswered++
			a.ivDup++
		default:
			if ended, _, _ := p.gw.SessionEnded(iv.session); ended {
				a.ivLost++
			} else {
				a.ivLive = append(a.ivLive, iv.id)
			}
		}
	}
	return a
}

func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// report prints the phase's figures and returns its violations.
func (p *phase) report(a accounting, samples []sample, st settled, sg sigtermResult, out outputReport) []string {
	var v []string
	fail := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }
	p.mu.Lock()
	counts := p.counts
	rereg, missed, burst := slices.Clone(p.rereg), slices.Clone(p.missed), slices.Clone(p.burst)
	died := p.died
	p.mu.Unlock()

	var names []string
	for k := range counts {
		if strings.HasPrefix(k, "fault ") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var fs []string
	for _, k := range names {
		fs = append(fs, fmt.Sprintf("%s %d", strings.TrimPrefix(k, "fault "), counts[k]))
	}
	var ks []string
	for _, k := range []string{"stream", "plain", "tools", "tts", "burst", "malformed", "oversized"} {
		ks = append(ks, fmt.Sprintf("%s %d", k, a.kinds[k]))
	}
	fmt.Printf("-- %s figures (load %s)\n", p.transport, loadavg())
	fmt.Printf("  faults:       %s\n", strings.Join(fs, ", "))
	fmt.Printf("  jobs:         %d (%s); settled in %v\n", a.jobs, strings.Join(ks, ", "), st.took.Round(time.Second))
	fmt.Printf("  answered:     %d exactly once, %d duplicated; %d errors of which %d busy; %d with chunks after the answer\n",
		a.answered-len(a.duplicates), len(a.duplicates), a.errors, a.busy, a.late)
	fmt.Printf("  lost:         %d with links the gateway cut; %d on links the daemon ended; %d unanswered on live links\n",
		a.lostFault, a.lostDaemon, len(a.liveUnanswered))
	fmt.Printf("  sessions:     %d ended by the gateway (resets, restarts), %d by the daemon (%d of them with jobs unanswered)\n",
		a.sessionsGateway, a.sessionsDaemon, len(a.daemonEndedWithJobs))
	fmt.Printf("  interviews:   %d sent, %d answered, %d duplicated, %d lost with their link, %d unanswered on live links\n",
		a.interviews, a.ivAnswered, a.ivDup, a.ivLost, len(a.ivLive))
	fmt.Printf("  restarts:     %d, re-registered %d: p50 %v, max %v; missed %d\n",
		counts["fault restart"], len(rereg), pct(rereg, 0.5).Round(time.Millisecond), pct(rereg, 1).Round(time.Millisecond), len(missed))
	fmt.Printf("  busy answers: %d in bursts, p50 %v, max %v after dispatch\n", len(burst), pct(burst, 0.5).Round(time.Millisecond), pct(burst, 1).Round(time.Millisecond))

	if died != "" {
		fail("%s; see %s", died, p.d.logPath)
	}
	if len(a.duplicates) > 0 {
		fail("%d requests answered more than once, e.g. %s", len(a.duplicates), a.duplicates[0])
	}
	if a.late > 0 {
		fail("%d requests got chunks after their terminal answer", a.late)
	}
	if len(a.liveUnanswered) > 0 || st.pending > 0 {
		ex := ""
		if len(a.liveUnanswered) > 0 {
			ex = ", e.g. " + a.liveUnanswered[0]
		}
		fail("%d requests on links that stayed up got no answer%s", len(a.liveUnanswered), ex)
	}
	if a.lostDaemon > 0 {
		fail("%d jobs lost on %d links the daemon ended itself (no gateway fault cut them): %s",
			a.lostDaemon, len(a.daemonEndedWithJobs), strings.Join(first(a.daemonEndedWithJobs, 3), ", "))
	}
	if a.ivDup > 0 || len(a.ivLive) > 0 {
		fail("interviews: %d unanswered on live links, %d answered twice (integral floats such as \"timeout_ms\":60000.0 must decode)", len(a.ivLive), a.ivDup)
	}
	if want := p.restarts; counts["fault restart"] < want {
		fail("only %d of %d gateway restarts happened", counts["fault restart"], want)
	}
	if len(missed) > 0 {
		fail("%d of %d restarts not followed by re-registration in time, e.g. %s", len(missed), counts["fault restart"], missed[0])
	}
	if m := pct(rereg, 1); m > p.opts.rereg {
		fail("re-registration after a restart took up to %v (p50 %v), over -rereg-max %v", m.Round(time.Millisecond), pct(rereg, 0.5).Round(time.Millisecond), p.opts.rereg)
	}

	// Resources.
	warm := max(15*time.Second, p.dur/5)
	win := max(10*time.Second, p.dur/10)
	startW, endW := window(samples, warm, warm+win), window(samples, p.dur-win, p.dur+time.Second)
	if len(startW) == 0 || len(endW) == 0 {
		fmt.Printf("  resources:    too few samples (%d) to compare\n", len(samples))
		fail("resources: too few samples to compare start and end (run longer)")
	} else {
		r0, r1 := minRSS(startW), minRSS(endW)
		f0, f1 := maxFDs(startW), maxFDs(endW)
		peak := int64(0)
		for _, s := range samples {
			peak = max(peak, s.rss)
		}
		fmt.Printf("  RSS:          %s after warm-up -> %s at the end (floor of %v windows), peak %s\n", mib(r0), mib(r1), win, mib(peak))
		var tl []string
		step := max(10*time.Second, p.dur/10)
		for at := time.Duration(0); at < p.dur; at += step {
			if w := window(samples, at, at+step); len(w) > 0 {
				tl = append(tl, fmt.Sprintf("%.0f/%d", float64(minRSS(w))/(1<<20), maxFDs(w)))
			}
		}
		fmt.Printf("  timeline:     RSS floor MiB/max FDs every %v: %s\n", step, strings.Join(tl, " "))
		fmt.Printf("  FDs:          %d after warm-up -> %d at the end (max of the windows)\n", f0, f1)
		fmt.Printf("  goroutines:   not measured (the daemon exposes no debug endpoint)\n")
		if lim := r0 + max(rssSlackBytes, int64(float64(r0)*rssSlackFrac)); r1 > lim {
			fail("RSS grew from %s to %s (limit %s)", mib(r0), mib(r1), mib(lim))
		}
		if f1 > f0+fdSlack {
			fail("open FDs grew from %d to %d (limit +%d)", f0, f1, fdSlack)
		}
	}

	// SIGTERM.
	fmt.Printf("  SIGTERM:      %d jobs in flight, %d answered (%d twice); exit code %d after %v (grace %v)%s\n",
		sg.inFlight, sg.answered, sg.duplicates, sg.code, sg.took.Round(time.Millisecond), p.opts.grace, note(sg.note))
	switch {
	case !sg.ok:
		fail("SIGTERM: not tested: %s", sg.note)
	case sg.killed:
		fail("SIGTERM: no exit within %v; killed", p.opts.grace+15*time.Second)
	default:
		if sg.code != 0 {
			fail("SIGTERM: exit code %d, want 0", sg.code)
		}
		if sg.took > p.opts.grace+5*time.Second {
			fail("SIGTERM: exit took %v, over the grace %v + 5 s", sg.took.Round(time.Millisecond), p.opts.grace)
		}
	}
	if sg.ok && sg.answered < sg.inFlight {
		fail("SIGTERM: %d of %d jobs in flight got no answer before the link closed", sg.inFlight-sg.answered, sg.inFlight)
	}
	if sg.duplicates > 0 {
		fail("SIGTERM: %d jobs answered twice", sg.duplicates)
	}

	// Output.
	fmt.Printf("  output:       %d lines (%s) at -l trace; %d panics/fatal errors/races; secret in %d lines; secret sent raw to the gateway: %v\n",
		out.lines, mib(int64(out.bytes)), len(out.panics), out.secretLines, p.gw.SecretLeaked())
	if len(out.panics) > 0 {
		fail("the daemon's output has a panic, fatal error or data race: %s", out.panics[0])
	}
	if out.secretLines > 0 {
		fail("the API secret appears in %d lines of the daemon's output at -l trace", out.secretLines)
	}
	if p.gw.SecretLeaked() {
		fail("the daemon sent the raw API secret to the gateway")
	}
	if out.lines == 0 {
		fail("the daemon wrote no output at -l trace (the secret check saw nothing)")
	}
	return v
}

func note(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }
