package config

import (
	"strings"
	"syscall"
)

// stopSignals are the signals stop_signal may name.
var stopSignals = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM,
	"INT":  syscall.SIGINT,
	"QUIT": syscall.SIGQUIT,
	"HUP":  syscall.SIGHUP,
	"USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
	"KILL": syscall.SIGKILL,
}

// parseSignal reads a stop_signal name: case-insensitive, "SIG" prefix optional.
func parseSignal(name string) (syscall.Signal, bool) {
	name = strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(name)), "SIG")
	sig, ok := stopSignals[name]
	return sig, ok
}
