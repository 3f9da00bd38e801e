package installer

import "os"

// logToService: a Windows service has no stderr anyone reads; log to the Event Log.
const logToService = true

// selfExit ends a service process whose program failed on its own, so that the service
// control manager applies the recovery action (restart after RestartDelay). Returning
// normally would report a clean stop, which is not restarted.
var selfExit = os.Exit
