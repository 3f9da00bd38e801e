package config

import (
	"strings"
	"testing"
)

func TestOwnerControlsValidation(t *testing.T) {
	base := `{"clientId":"op_x","nodes":[{"alias":"a","inferenceUri":"http://127.0.0.1:11434","apiMode":"ollama","region":"us-east","capacity":1}]`
	for _, c := range []struct{ extra, want string }{
		{`,"schedule":{"days":["mon","Tuesday"],"from":"18:00","to":"08:00"}`, ""},
		{`,"schedule":{"days":["mon","funday"],"from":"18:00","to":"08:00"}`, `schedule.days[1]: "funday" is not a day`},
		{`,"schedule":{"to":"08:00"}`, "schedule.from: missing"},
		{`,"schedule":{"from":"18:00"}`, "schedule.to: missing"},
		{`,"schedule":{"from":"6pm","to":"08:00"}`, `schedule.from: "6pm" is not HH:MM`},
		{`,"schedule":{"from":"18:00","to":"24:00"}`, `schedule.to: "24:00" is not a time of day`},
		{`,"schedule":{"from":"18:00","to":"18:00"}`, "schedule.to: equals from"},
		{`,"pauseWhenBusy":{"cpuPercent":85}`, ""},
		{`,"pauseWhenBusy":{}`, "pauseWhenBusy: neither cpuPercent nor gpuPercent is set"},
		{`,"pauseWhenBusy":{"gpuPercent":150}`, "pauseWhenBusy.gpuPercent: 150 is not a percentage"},
		{`,"pauseWhenBusy":{"cpuPercent":85,"forSeconds":3}`, "pauseWhenBusy.forSeconds: 3 is too short"},
	} {
		cfg, _, err := Parse([]byte(base + c.extra + "}"))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.extra, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: err = %v, want %q", c.extra, err, c.want)
		case c.want != "" && strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: error is not one line: %q", c.extra, err)
		case c.want == "" && cfg.PauseWhenBusy != nil && cfg.PauseWhenBusy.ForSeconds != DefaultBusySeconds:
			t.Errorf("forSeconds default = %d", cfg.PauseWhenBusy.ForSeconds)
		}
	}
}
