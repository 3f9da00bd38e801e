package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pin-client/pin-client/core/pintest"
)

// reportPhase is a phase whose load is over, for report: a gateway with no sessions.
func reportPhase(t *testing.T) *phase {
	gw := pintest.New(t, pintest.Options{})
	return &phase{opts: options{grace: 5 * time.Second, rereg: 10 * time.Second}, transport: "sse",
		dur: 100 * time.Second, restarts: 2, gw: gw, gws: &gatewayServer{gw: gw},
		d: &daemon{logPath: "daemon.log"}, counts: map[string]int{"fault restart": 2},
		rereg: []time.Duration{time.Second, 2 * time.Second}}
}

// flat is 100 s of samples at 1 s with constant RSS and FDs.
func flat(rss int64, fds int) []sample {
	var ss []sample
	for i := range 100 {
		ss = append(ss, sample{at: time.Duration(i) * time.Second, rss: rss, fds: fds})
	}
	return ss
}

var goodSigterm = sigtermResult{ok: true, inFlight: 4, answered: 4, took: 5 * time.Second}
var goodOutput = outputReport{lines: 100}

// TestReport: a clean run passes, and each violated invariant fails with its line.
func TestReport(t *testing.T) {
	p := reportPhase(t)
	if v := p.report(accounting{jobs: 10, answered: 10}, flat(40<<20, 20), settled{}, goodSigterm, goodOutput); len(v) != 0 {
		t.Fatalf("clean run reported violations: %q", v)
	}

	grow := flat(40<<20, 20)
	for i := range grow[80:] {
		grow[80+i].rss, grow[80+i].fds = 100<<20, 40
	}
	tests := []struct {
		name string
		mod  func(p *phase, a *accounting, ss *[]sample, sg *sigtermResult, out *outputReport)
		want string
	}{
		{"duplicate", func(p *phase, a *accounting, _ *[]sample, _ *sigtermResult, _ *outputReport) {
			a.duplicates = []string{"r1 (stream) answered 2 times"}
		}, "answered more than once"},
		{"live unanswered", func(p *phase, a *accounting, _ *[]sample, _ *sigtermResult, _ *outputReport) {
			a.liveUnanswered = []string{"r2"}
		}, "stayed up got no answer"},
		{"daemon dropped jobs", func(p *phase, a *accounting, _ *[]sample, _ *sigtermResult, _ *outputReport) {
			a.lostDaemon, a.daemonEndedWithJobs = 8, []string{"session 3 (8 jobs)"}
		}, "links the daemon ended itself"},
		{"late chunks", func(p *phase, a *accounting, _ *[]sample, _ *sigtermResult, _ *outputReport) { a.late = 1 }, "after their terminal answer"},
		{"interview", func(p *phase, a *accounting, _ *[]sample, _ *sigtermResult, _ *outputReport) {
			a.ivLive = []string{"iv"}
		}, "interviews: 1 unanswered"},
		{"missed re-registration", func(p *phase, _ *accounting, _ *[]sample, _ *sigtermResult, _ *outputReport) {
			p.missed = []string{"restart 2: ..."}
		}, "not followed by re-registration"},
		{"slow re-registration", func(p *phase, _ *accounting, _ *[]sample, _ *sigtermResult, _ *outputReport) {
			p.rereg = append(p.rereg, 31*time.Second)
		}, "over -rereg-max"},
		{"too few restarts", func(p *phase, _ *accounting, _ *[]sample, _ *sigtermResult, _ *outputReport) {
			p.counts["fault restart"] = 1
		}, "only 1 of 2 gateway restarts"},
		{"rss", func(_ *phase, _ *accounting, ss *[]sample, _ *sigtermResult, _ *outputReport) { *ss = grow }, "RSS grew"},
		{"fds", func(_ *phase, _ *accounting, ss *[]sample, _ *sigtermResult, _ *outputReport) { *ss = grow }, "open FDs grew"},
		{"sigterm unanswered", func(_ *phase, _ *accounting, _ *[]sample, sg *sigtermResult, _ *outputReport) { sg.answered = 2 }, "2 of 4 jobs in flight got no answer"},
		{"sigterm exit code", func(_ *phase, _ *accounting, _ *[]sample, sg *sigtermResult, _ *outputReport) { sg.code = 1 }, "exit code 1"},
		{"sigterm slow", func(_ *phase, _ *accounting, _ *[]sample, sg *sigtermResult, _ *outputReport) {
			sg.took = 11 * time.Second
		}, "over the grace"},
		{"sigterm killed", func(_ *phase, _ *accounting, _ *[]sample, sg *sigtermResult, _ *outputReport) { sg.killed = true }, "killed"},
		{"panic", func(_ *phase, _ *accounting, _ *[]sample, _ *sigtermResult, out *outputReport) {
			out.panics = []string{"panic: boom"}
		}, "panic: boom"},
		{"secret", func(_ *phase, _ *accounting, _ *[]sample, _ *sigtermResult, out *outputReport) { out.secretLines = 3 }, "secret appears in 3 lines"},
		{"died", func(p *phase, _ *accounting, _ *[]sample, _ *sigtermResult, _ *outputReport) {
			p.died = "pin-clientd exited during the load"
		}, "exited during the load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := reportPhase(t)
			a, ss, sg, out := accounting{jobs: 10, answered: 10}, flat(40<<20, 20), goodSigterm, goodOutput
			tt.mod(p, &a, &ss, &sg, &out)
			v := p.report(a, ss, settled{}, sg, out)
			if len(v) == 0 || !strings.Contains(strings.Join(v, "\n"), tt.want) {
				t.Errorf("violations %q, want one containing %q", v, tt.want)
			}
		})
	}
}

func TestScanOutput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	log := "time=1 level=INFO msg=ok\npanic: runtime error\n\ngoroutine 7 [running]:\nsecret pin_sk_x here\n"
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := scanOutput(path, "pin_sk_x")
	if err != nil {
		t.Fatal(err)
	}
	if r.lines != 5 || len(r.panics) != 2 || r.secretLines != 1 {
		t.Errorf("scan = %+v, want 5 lines, 2 panic lines, 1 secret line", r)
	}
}

func TestProcReadings(t *testing.T) {
	rss, err := vmRSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Errorf("vmRSS = %d, %v", rss, err)
	}
	n, err := openFDs(os.Getpid())
	if err != nil || n < 3 {
		t.Errorf("openFDs = %d, %v", n, err)
	}
}
