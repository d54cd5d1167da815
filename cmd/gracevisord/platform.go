package main

import (
	"log/slog"
	"runtime"

	"github.com/gracevisor/gracevisor/procs"
)

// warnPlatform says once, at start, which guarantees gracevisord lacks on
// this system: they are written for Linux.
func warnPlatform(log *slog.Logger) {
	if lacks := platformLimits(); len(lacks) > 0 {
		log.Warn("gracevisord runs with fewer guarantees on "+runtime.GOOS, "lacks", lacks)
	}
}

// platformLimits lists what this system cannot give: procs' own list, and
// the proxy's and the control API's.
func platformLimits() []string {
	lacks := procs.PlatformLimits()
	if runtime.GOOS != "linux" {
		lacks = append(lacks,
			"no splice(2): proxied bytes are copied through user space",
			"no SO_PEERCRED pid: the audit log names only the uid of rpc.socket clients")
	}
	return lacks
}
