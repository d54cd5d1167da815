package l4proxy

import (
	"fmt"
	"syscall"
)

// RaiseFileLimit raises the RLIMIT_NOFILE soft limit to the hard limit and
// returns the new soft limit. Each proxied connection holds two
// descriptors, and up to four more (two splice pipes) while it moves bytes,
// so the usual soft limit of 1024 caps a proxy at a few hundred connections.
func RaiseFileLimit() (uint64, error) {
	// syscall (not x/sys/unix) so the runtime knows the limit changed and
	// passes the new one on to child processes.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("get file limit: %w", err)
	}
	if lim.Cur >= lim.Max {
		return uint64(lim.Cur), nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raise file limit to %d: %w", lim.Max, err)
	}
	return uint64(lim.Cur), nil
}
