package procs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// A markedCell is an instance in process-group mode: its process group,
// and every process that carries its marker (GRACEVISOR_INSTANCE), which
// finds a grandchild that left the group (setsid) unless it also cleared
// its environment. Its group is recorded in the daemon's state file, so a
// successor can sweep it if the daemon dies.
type markedCell struct {
	id    string
	recs  *groupRecords // nil: not recorded
	pid   int
	start uint64
}

func (c *markedCell) prepare(cmd *exec.Cmd) error {
	markEnv(cmd, c.id)
	return nil
}

func (c *markedCell) started(pid int) error {
	c.pid, c.start = pid, startTime(pid)
	c.recs.add(leftover{id: c.id, pgid: pid, start: c.start})
	return nil
}

// kill SIGKILLs the processes that left the group (the group itself is
// killed by the process's killGroup).
func (c *markedCell) kill() {
	if c.pid == 0 {
		return
	}
	for _, pid := range (leftover{id: c.id, pgid: c.pid, start: c.start}).members() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (c *markedCell) settle() {}

// memory is the RSS of the process group and the marked processes.
func (c *markedCell) memory() (int64, bool) {
	if c.pid == 0 {
		return 0, false
	}
	return rssOf(leftover{id: c.id, pgid: c.pid, start: c.start}.members()), true
}

func (c *markedCell) oomKilled() bool { return false }

func (c *markedCell) release() { c.recs.remove(c.id) }

// groupRecords is one daemon's state file in process-group mode: a line
// "<instance id> <pgid> <start time>" per live instance, rewritten whole
// (write and rename) on every change. Each daemon has its own file,
// <dir>/<daemon pid>-<start time>, so two live daemons (an upgrade) never
// write the same one. Safe for concurrent use; a nil one records nothing.
type groupRecords struct {
	path string
	mu   sync.Mutex
	live map[string]leftover
	err  error // the last write error, said once
}

func newGroupRecords(dir, owner string) (*groupRecords, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	r := &groupRecords{path: filepath.Join(dir, owner), live: map[string]leftover{}}
	return r, r.write()
}

func (r *groupRecords) add(l leftover) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live[l.id] = l
	r.err = r.write()
}

func (r *groupRecords) remove(id string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, id)
	r.err = r.write()
}

// write replaces the file with the live records; r.mu must be held.
func (r *groupRecords) write() error {
	var lines []string
	for _, l := range r.live {
		lines = append(lines, fmt.Sprintf("%s %d %d\n", l.id, l.pgid, l.start))
	}
	sort.Strings(lines)
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "")), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, r.path)
}

// close removes the file: the daemon ended with every instance stopped.
func (r *groupRecords) close() {
	if r != nil {
		_ = os.Remove(r.path)
	}
}

// readRecords parses a state file.
func readRecords(path string) []leftover {
	b, _ := os.ReadFile(path)
	var out []leftover
	for _, line := range strings.Split(string(b), "\n") {
		var l leftover
		if _, err := fmt.Sscanf(line, "%s %d %d", &l.id, &l.pgid, &l.start); err == nil {
			out = append(out, l)
		}
	}
	return out
}
