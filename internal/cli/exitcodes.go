package cli

// Every exit code of every command, in one place. 0, 1 and 2 mean the same
// for all commands; from 3 up a code means one thing per command, as each
// command's --help lists. plan-check shares roll's 3 ("refused").
const (
	ExitOK    = 0
	ExitError = 1 // the command failed (AWS, the network, a file); the message says why
	ExitUsage = 2 // bad flags, arguments or config; nothing was changed

	// stateful roll (and plan-check's 3)
	ExitRefused = 3 // refused before acting: not ready, locked, an unsafe plan; nothing was terminated
	ExitStopped = 4 // the roll stopped at a failure; the message names the node and what to run
	ExitPaused  = 5 // --pause-after: stopped on purpose; the message says how to resume
	// ExitInterrupted and ExitUnreachable: the roll did not fail, it was
	// stopped from outside; the message names the node being replaced, the
	// state left and the command that resumes.
	ExitInterrupted = 6 // a signal (Ctrl-C, SIGTERM)
	ExitUnreachable = 7 // AWS lost mid-roll: the network, credentials, access, throttling past retries

	// stateful status
	ExitNotInService = 3 // some node is not in service
	ExitOutdated     = 4 // every node is in service, some on an old version

	// stateful recover
	ExitDeclined = 3 // the operator answered no at the prompt; nothing was done
	ExitUnsafe   = 4 // refused: another node is out of service, or the cluster's lock is held

	// stateful node probe
	ExitProbeWouldFormat = 3 // bootstrap would format the device: proven blank
	ExitProbeRefuses     = 4 // bootstrap would refuse the device
)
