package owner

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CPUSampler reads whole-machine CPU use from /proc/stat (Linux): the share of non-idle
// time since the previous call. Elsewhere, and on the first call, ok is false.
type CPUSampler struct {
	Path string // "" → /proc/stat

	mu                sync.Mutex
	prevBusy, prevAll uint64
}

// Sample returns the CPU use in percent since the previous call.
func (c *CPUSampler) Sample() (float64, bool) {
	p := c.Path
	if p == "" {
		p = "/proc/stat"
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, false
	}
	busy, all, ok := ParseProcStat(b)
	if !ok {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pb, pa := c.prevBusy, c.prevAll
	c.prevBusy, c.prevAll = busy, all
	if pa == 0 || all <= pa || busy < pb {
		return 0, false
	}
	return 100 * float64(busy-pb) / float64(all-pa), true
}

// ParseProcStat reads the aggregate "cpu" line of /proc/stat: busy and total jiffies
// (idle and iowait are not busy; guest time is already in user and nice).
func ParseProcStat(b []byte) (busy, all uint64, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[0] != "cpu" {
			continue
		}
		var v [10]uint64
		n := 0
		for i := 1; i < len(f) && n < 8; i++ { // user nice system idle iowait irq softirq steal
			x, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return 0, 0, false
			}
			v[n] = x
			n++
		}
		for i := range n {
			all += v[i]
		}
		idle := v[3] + v[4]
		return all - idle, all, all > 0
	}
	return 0, 0, false
}

// GPUSampler reads NVIDIA GPU use with nvidia-smi (no cgo, no NVML binding): the busiest
// GPU's utilization.gpu. Without nvidia-smi ok is false, and it is not run again.
type GPUSampler struct {
	Command string        // "" → nvidia-smi on PATH
	Timeout time.Duration // 0 → 5 s

	mu      sync.Mutex
	missing bool
}

// Sample runs nvidia-smi once.
func (g *GPUSampler) Sample(ctx context.Context) (float64, bool) {
	g.mu.Lock()
	missing := g.missing
	g.mu.Unlock()
	if missing {
		return 0, false
	}
	cmd := g.Command
	if cmd == "" {
		cmd = "nvidia-smi"
	}
	path, err := exec.LookPath(cmd)
	if err != nil {
		g.mu.Lock()
		g.missing = true
		g.mu.Unlock()
		return 0, false
	}
	to := g.Timeout
	if to <= 0 {
		to = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits").Output()
	if err != nil {
		return 0, false
	}
	return ParseNvidiaSMI(out)
}

// ParseNvidiaSMI reads `nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits`:
// one number per GPU; it returns the highest.
func ParseNvidiaSMI(out []byte) (float64, bool) {
	best, ok := 0.0, false
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		v, err := strconv.ParseFloat(line, 64)
		if err != nil || v < 0 || v > 100 {
			continue // "[N/A]", "[Not Supported]"
		}
		if !ok || v > best {
			best, ok = v, true
		}
	}
	return best, ok
}
