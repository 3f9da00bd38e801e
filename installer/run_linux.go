package installer

import (
	"sync"

	"github.com/kardianos/service"
)

var forceOnce sync.Once

// forceSystemd makes kardianos use its systemd backend even where its detection fails
// (a container, a test machine without systemd as PID 1) and never its SysV backend.
func forceSystemd() {
	forceOnce.Do(func() {
		for _, s := range service.AvailableSystems() {
			if s.String() == "linux-systemd" {
				service.ChooseSystem(detected{s})
				return
			}
		}
	})
}

// detected is a kardianos system whose detection always succeeds.
type detected struct{ service.System }

func (detected) Detect() bool { return true }
