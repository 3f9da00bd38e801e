package config

import (
	"fmt"
	"strings"
)

// Schedule is "schedule": the weekly hours the machine serves; outside them the engine
// is paused. From and To are local "HH:MM"; a To at or before From spans midnight
// (18:00–08:00 serves each evening through the next morning). Days lists the days a
// span starts on ("mon" … "sun"); empty means every day.
type Schedule struct {
	Days []string `json:"days,omitempty"`
	From string   `json:"from"`
	To   string   `json:"to"`
}

// PauseWhenBusy is "pauseWhenBusy": pause while this machine is busy with other work.
// A threshold of 0 is not watched; at least one must be set.
type PauseWhenBusy struct {
	CPUPercent float64 `json:"cpuPercent,omitempty"` // whole-machine CPU use, /proc/stat (Linux)
	GPUPercent float64 `json:"gpuPercent,omitempty"` // NVIDIA GPU use, from nvidia-smi
	// ForSeconds is how long the use must stay above a threshold before pausing, and
	// below every threshold before resuming; 0 → DefaultBusySeconds.
	ForSeconds int `json:"forSeconds,omitempty"`
}

// Owner-control defaults and bounds.
const (
	DefaultBusySeconds = 120
	MinBusySeconds     = 10
)

// DayNames are the accepted day names of Schedule.Days, Sunday first (time.Weekday order).
var DayNames = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseClock parses a local time of day "HH:MM" (00:00–23:59) into minutes after midnight.
func ParseClock(s string) (int, error) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%q is not HH:MM; use 24-hour time such as \"08:00\" or \"18:30\"", s)
	}
	if _, err := fmt.Sscanf(s, "%2d:%2d", &h, &m); err != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, fmt.Errorf("%q is not a time of day; use 24-hour HH:MM from 00:00 to 23:59", s)
	}
	return h*60 + m, nil
}

// DayIndex returns the time.Weekday of a day name ("mon", "Monday", "TUE"…), or -1.
func DayIndex(s string) int {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < 3 {
		return -1
	}
	for i, d := range DayNames {
		if strings.HasPrefix(s, d) && strings.HasPrefix(fullDays[i], s) {
			return i
		}
	}
	return -1
}

var fullDays = [...]string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// check validates the schedule; p is its JSON path.
func (s *Schedule) check(p string) error {
	for i, d := range s.Days {
		if DayIndex(d) < 0 {
			return fieldErr(fmt.Sprintf("%s.days[%d]", p, i), "%q is not a day; use mon, tue, wed, thu, fri, sat or sun", d)
		}
	}
	if s.From == "" {
		return fieldErr(p+".from", "missing; set when serving starts, e.g. \"18:00\"")
	}
	if s.To == "" {
		return fieldErr(p+".to", "missing; set when serving ends, e.g. \"08:00\" (before from means the next morning)")
	}
	from, err := ParseClock(s.From)
	if err != nil {
		return fieldErr(p+".from", "%v", err)
	}
	to, err := ParseClock(s.To)
	if err != nil {
		return fieldErr(p+".to", "%v", err)
	}
	if from == to {
		return fieldErr(p+".to", "equals from (%s); to serve around the clock on the chosen days use from \"00:00\" to \"23:59\", or remove \"schedule\"", s.From)
	}
	return nil
}

func (b *PauseWhenBusy) check(p string) error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"cpuPercent", b.CPUPercent}, {"gpuPercent", b.GPUPercent}} {
		if f.v < 0 || f.v > 100 {
			return fieldErr(p+"."+f.name, "%g is not a percentage; use 1 to 100 (0 or absent: not watched)", f.v)
		}
	}
	if b.CPUPercent == 0 && b.GPUPercent == 0 {
		return fieldErr(p, "neither cpuPercent nor gpuPercent is set; set one (e.g. \"cpuPercent\": 85) or remove \"pauseWhenBusy\"")
	}
	if b.ForSeconds == 0 {
		b.ForSeconds = DefaultBusySeconds
	}
	if b.ForSeconds < MinBusySeconds {
		return fieldErr(p+".forSeconds", "%d is too short; use %d seconds or more (default %d)", b.ForSeconds, MinBusySeconds, DefaultBusySeconds)
	}
	return nil
}

// checkOwner validates the owner controls (schedule, pauseWhenBusy).
func (c *Config) checkOwner() []error {
	var errs []error
	if c.Schedule != nil {
		if err := c.Schedule.check("schedule"); err != nil {
			errs = append(errs, err)
		}
	}
	if c.PauseWhenBusy != nil {
		if err := c.PauseWhenBusy.check("pauseWhenBusy"); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
