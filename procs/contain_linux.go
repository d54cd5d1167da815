package procs

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gracevisor/gracevisor/config"
)

// containPlatform is Linux containment: a cgroup tree, or process groups
// recorded in a state file.
type containPlatform struct {
	cg       *cgroupTree   // nil in process-group mode
	recs     *groupRecords // process-group mode's state file; nil if none
	stateDir string
}

// NewContainment decides how this daemon's instances are contained: in
// cgroups below the daemon's own where it may create them (root, or a
// systemd unit with Delegate=yes), else — or with ForceProcessGroups — in
// process groups. It never fails: what the chosen mode cannot do is in
// Notes. Call it once, before anything starts.
func NewContainment(o ContainOptions) *Containment {
	self := os.Getpid()
	c := &Containment{owner: fmt.Sprintf("%d-%d", self, startTime(self)), plat: &containPlatform{stateDir: o.StateDir}}
	why := "forced by " + ContainEnv + "=" + ContainProcessGroup
	if !o.ForceProcessGroups {
		m, err := readCgroupMounts()
		var t *cgroupTree
		if err == nil {
			t, err = openCgroupTree(m)
		}
		if err == nil {
			c.mode, c.plat.cg, c.notes = ContainCgroup, t, t.notes
			return c
		}
		why = err.Error()
	}
	c.mode = ContainProcessGroup
	c.notes = append(c.notes, "instances are held by process groups, not cgroups ("+why+"): "+
		"a process that leaves its group and clears "+instanceEnv+" from its environment can outlive its instance; "+
		"memory_max, pids_max and cpu_max are not applied, OOM kills are not recognised as such")
	if o.StateDir != "" {
		recs, err := newGroupRecords(o.StateDir, c.owner)
		if err != nil {
			c.notes = append(c.notes, fmt.Sprintf("instances are not recorded (%v): a successor cannot sweep them if gracevisord dies", err))
		}
		c.plat.recs = recs
	}
	return c
}

func (p *containPlatform) newCell(cfg *config.App, id string) (cell, error) {
	if p.cg != nil {
		return p.cg.newCell(cfg, id)
	}
	return &markedCell{id: id, recs: p.recs}, nil
}

// close removes the state file once every instance has ended.
func (p *containPlatform) close() { p.recs.close() }

// Sweep kills what dead daemons left: every process in a cgroup of the
// subtree whose daemon is gone, and every process of the instances that
// dead daemons recorded in the state directory. It logs each pid it
// kills and returns them. Call it before binding anything; a daemon
// started by an upgrade must not (its predecessor is alive, and a sweep
// skips live daemons' instances anyway).
func (c *Containment) Sweep(log *slog.Logger) []int {
	if c == nil {
		return nil
	}
	var killed []int
	if t := c.plat.cg; t != nil {
		killed = append(killed, t.sweep(log)...)
	}
	if dir := c.plat.stateDir; dir != "" {
		killed = append(killed, sweepRecords(dir, log)...)
	}
	return killed
}

// sweep empties and removes the instance cgroups of dead daemons.
func (t *cgroupTree) sweep(log *slog.Logger) []int {
	var killed []int
	cells, _ := filepath.Glob(filepath.Join(t.root, "*", "*"))
	for _, dir := range cells {
		if !deadOwner(filepath.Base(dir)) {
			continue
		}
		pids := readPids(filepath.Join(dir, "cgroup.procs"))
		killCgroup(dir, t.hasKill)
		settleCgroup(dir, settleTimeout)
		for _, pid := range pids {
			log.Warn("killed a process left by a gracevisord that died", "pid", pid, "cgroup", dir)
		}
		killed = append(killed, pids...)
		_ = os.Remove(dir)
		_ = os.Remove(filepath.Dir(dir))
	}
	for _, root := range t.v1 {
		dirs, _ := filepath.Glob(filepath.Join(root, "*", "*"))
		for _, dir := range dirs {
			if deadOwner(filepath.Base(dir)) {
				_ = os.Remove(dir)
				_ = os.Remove(filepath.Dir(dir))
			}
		}
	}
	return killed
}

// deadOwner reports whether name is an instance id whose daemon is gone.
func deadOwner(name string) bool {
	pid, start, ok := ownerOf(name)
	return ok && !alive(pid, start)
}

// sweepRecords kills the recorded instances of dead daemons and removes
// their state files.
func sweepRecords(dir string, log *slog.Logger) []int {
	var killed []int
	files, _ := filepath.Glob(filepath.Join(dir, "*-*"))
	for _, f := range files {
		pid, start, ok := ownerOf(filepath.Base(f) + "-0")
		if !ok || alive(pid, start) {
			continue
		}
		for _, l := range readRecords(f) {
			for _, p := range l.members() {
				if err := killPid(p); err == nil {
					log.Warn("killed a process left by a gracevisord that died", "pid", p, "instance", l.id)
					killed = append(killed, p)
				}
			}
		}
		_ = os.Remove(f)
	}
	return killed
}
