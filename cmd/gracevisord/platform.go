package main

import (
	"log/slog"
	"runtime"
)

// warnPlatform says once, at start, which guarantees gracevisord lacks on
// this system: they are written for Linux.
func warnPlatform(log *slog.Logger) {
	if lacks := platformLimits(); len(lacks) > 0 {
		log.Warn("gracevisord runs with fewer guarantees on "+runtime.GOOS, "lacks", lacks)
	}
}

// platformLimits lists what this system cannot give. TODO(issue 12): use
// procs.PlatformLimits once it exists; until then the daemon's own list.
func platformLimits() []string {
	if runtime.GOOS == "linux" {
		return nil
	}
	return []string{
		"apps may outlive a killed gracevisord (no Pdeathsig)",
		"no splice(2): proxied bytes are copied through user space",
		"no SO_PEERCRED: the audit log names no uid or pid for rpc.socket clients",
	}
}
