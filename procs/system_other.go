//go:build !linux

package procs

import (
	"os/exec"
	"syscall"
)

// platformLimits are the guarantees this platform lacks (see PlatformLimits).
var platformLimits = []string{
	"children are not killed when gracevisord dies (no Pdeathsig): stop the apps before killing the daemon",
	"an instance's leftover process group is killed just after its main process is reaped, not before",
	"nofile is not applied (no prlimit)",
}

// forker starts children from any thread: without Pdeathsig, the
// forking thread does not matter.
type forker struct{}

func newForker() forker { return forker{} }

func (forker) start(cmd *exec.Cmd) error { return cmd.Start() }

func (forker) close() {}

// setDeathSignal does nothing: this platform has no Pdeathsig.
func setDeathSignal(*syscall.SysProcAttr) {}

// wait reaps the process, then kills what is left of its group. Without
// waitid's WNOWAIT the group id could in principle be reused in between;
// POSIX keeps a pid from being reused while a group of that id has members,
// which is the case that matters.
func (p *osProcess) wait() error {
	err := p.cmd.Wait()
	p.killGroup()
	p.cell.release()
	return err
}

// setNofile does nothing here: PlatformLimits says so.
func setNofile(pid, n int) error { return nil }
