package procs

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// platformLimits: Linux gives every guarantee procs relies on.
var platformLimits []string

// forker starts children from the spawner's locked thread (see spawner).
type forker = *spawner

func newForker() forker { return newSpawner() }

// setDeathSignal makes the kernel SIGKILL the child when the thread that
// forked it (the spawner's) ends, so children never outlive the daemon.
func setDeathSignal(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }

// wait observes the exit with WNOWAIT first: until the reap, the zombie
// keeps its pid (and so the group id) from being reused, which makes the
// group kill safe.
func (p *osProcess) wait() error {
	waitExitNoReap(p.pid())
	p.killGroup()
	return p.reaped()
}

// setNofile sets pid's RLIMIT_NOFILE, soft and hard.
func setNofile(pid, n int) error {
	return unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(n), Max: uint64(n)}, nil)
}

// killPid SIGKILLs one process.
func killPid(pid int) error { return unix.Kill(pid, unix.SIGKILL) }

// waitExitNoReap blocks until pid has exited without reaping it.
func waitExitNoReap(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}
