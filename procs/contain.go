package procs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/gracevisor/gracevisor/config"
)

// Containment modes, as status and version report them.
const (
	// ContainCgroup: each instance runs in a cgroup of its own, created
	// below the daemon's; everything in it is killed with it.
	ContainCgroup = "cgroup"
	// ContainProcessGroup: no writable cgroup (or forced); an instance is
	// its process group, plus the processes that carry its marker.
	ContainProcessGroup = "process-group"
)

// ContainEnv is the environment variable that, set to
// ContainProcessGroup, makes gracevisord use process groups even where
// cgroups are writable (read by the daemon, see ContainOptions).
const ContainEnv = "GRACEVISOR_CONTAINMENT"

// instanceEnv is the environment variable that marks every process of an
// instance with the instance's id; descendants inherit it. In
// process-group mode it finds the processes that left the group.
const instanceEnv = "GRACEVISOR_INSTANCE"

// errOOMKilled is wrapped by the exit of an instance that the kernel's
// OOM killer ended (see process.wait).
var errOOMKilled = errors.New("oom-killed")

// ContainOptions say how NewContainment contains instances.
type ContainOptions struct {
	// ForceProcessGroups uses process groups even where cgroups are
	// writable (GRACEVISOR_CONTAINMENT=process-group).
	ForceProcessGroups bool
	// StateDir is where, in process-group mode, a daemon records its
	// instances' process groups, so that a successor can sweep them if
	// it dies; "" = not recorded.
	StateDir string
}

// Containment holds a daemon's instances: in cgroups where it can (see
// cgroup_linux.go), else in process groups. One daemon has one; it is
// safe for concurrent use.
//
// Every instance gets an id unique across daemons, "<daemon
// pid>-<daemon start time>-<n>", which names its cgroup and is set in its
// environment (GRACEVISOR_INSTANCE): two daemons in one tree (an upgrade)
// never collide, and a sweep can tell a dead daemon's leftovers from a
// live one's.
type Containment struct {
	mode  string
	notes []string // what this mode cannot do, said once at start
	owner string   // "<pid>-<start time>" of this daemon
	seq   atomic.Uint64
	plat  *containPlatform // cgroups or process-group records; nil: plain process groups
}

// Mode is ContainCgroup or ContainProcessGroup; nil is ContainProcessGroup.
func (c *Containment) Mode() string {
	if c == nil {
		return ContainProcessGroup
	}
	return c.mode
}

// Notes lists, in plain words, what this containment cannot guarantee, for
// the daemon to log once at start.
func (c *Containment) Notes() []string {
	if c == nil {
		return nil
	}
	return c.notes
}

// Contain makes the supervisor's instances run under c. Call it before
// Start; without it, instances are contained by process groups alone.
func (s *Supervisor) Contain(c *Containment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d.contain = c
}

// newID is the id of a new instance.
func (c *Containment) newID() string {
	return c.owner + "-" + strconv.FormatUint(c.seq.Add(1), 10)
}

// ownerOf parses the daemon part of an instance id.
func ownerOf(id string) (pid int, start uint64, ok bool) {
	f := strings.Split(id, "-")
	if len(f) != 3 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	return pid, start, err1 == nil && err2 == nil && pid > 0
}

// A cell holds one instance's processes: its cgroup, or its process group
// and marker. The process calls prepare before the fork, started right
// after it, then (on exit) kill, settle, and release after the reap.
type cell interface {
	// prepare readies cmd to start inside the cell.
	prepare(cmd *exec.Cmd) error
	// started is called with the new process; an error fails the start.
	started(pid int) error
	// kill SIGKILLs every process in the cell.
	kill()
	// settle waits (boundedly) until nothing is left in the cell.
	settle()
	// memory is the cell's memory use in bytes; ok is false if unknown.
	memory() (bytes int64, ok bool)
	// oomKilled reports whether the OOM killer killed anything in it.
	oomKilled() bool
	// release removes the cell; call it after the reap.
	release()
}

// newCell makes the cell of a new instance of cfg; a nil Containment gives
// a bare process-group cell.
func (c *Containment) newCell(cfg *config.App) (cell, error) {
	if c == nil {
		return &groupCell{}, nil
	}
	id := c.newID()
	cl, err := c.plat.newCell(cfg, id)
	if err != nil {
		return nil, fmt.Errorf("contain %s: %w", cfg.Name, err)
	}
	return cl, nil
}

// markEnv adds the instance marker to cmd's environment.
func markEnv(cmd *exec.Cmd, id string) {
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, instanceEnv+"="+id)
}

// groupCell is an instance contained by its process group alone (the
// process's own killGroup kills it): no sweep, no limits.
type groupCell struct{}

func (*groupCell) prepare(*exec.Cmd) error { return nil }
func (*groupCell) started(int) error       { return nil }
func (*groupCell) kill()                   {}
func (*groupCell) settle()                 {}
func (*groupCell) memory() (int64, bool)   { return 0, false }
func (*groupCell) oomKilled() bool         { return false }
func (*groupCell) release()                {}
