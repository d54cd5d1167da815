package procs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gracevisor/gracevisor/config"
)

// settleTimeout bounds how long an instance's end waits for its cgroup to
// empty after the kill (a process in uninterruptible sleep dies late).
const settleTimeout = 5 * time.Second

// cpuPeriod is the CFS period the cpu_max quota is a share of, in µs.
const cpuPeriod = 100000

// A cgroupCell is one instance's cgroup: its directory in the v2 tree,
// and in the v1 hierarchies that hold its limits on a hybrid host.
type cgroupCell struct {
	t      *cgroupTree
	id     string
	appDir string   // <root>/<app>
	dir    string   // <root>/<app>/<id>
	v1     []string // the cell's v1 directories
	memDir string   // where its memory.* files are; "" if no memory controller
	memV1  bool
	fd     int // dir, open from prepare until started; -1 otherwise
}

// newCell creates the cgroup of a new instance of cfg and applies its limits.
func (t *cgroupTree) newCell(cfg *config.App, id string) (cell, error) {
	c := &cgroupCell{t: t, id: id, appDir: filepath.Join(t.root, cfg.Name), fd: -1}
	c.dir = filepath.Join(c.appDir, id)
	if err := mkdirCgroup(c.appDir); err != nil {
		return nil, err
	}
	if len(t.v2ctrls) > 0 { // hand the controllers down to the instance
		if err := writeFile(filepath.Join(c.appDir, "cgroup.subtree_control"), "+"+strings.Join(t.v2ctrls, " +")); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		return nil, err
	}
	if err := c.limit(cfg.Limits); err != nil {
		c.release()
		return nil, err
	}
	return c, nil
}

// limit writes l into the cell; memory is set up for memory_reload too, to
// measure it.
func (c *cgroupCell) limit(l config.Limits) error {
	if l.MemoryMaxMB > 0 || l.MemoryReloadMB > 0 {
		dir, v1, err := c.controller("memory")
		if err != nil || dir == "" {
			return err
		}
		c.memDir, c.memV1 = dir, v1
		if n := l.MemoryMaxMB; n > 0 {
			if err := c.memoryMax(int64(n) << 20); err != nil {
				return err
			}
		}
	}
	if l.PidsMax > 0 {
		if dir, _, err := c.controller("pids"); err != nil {
			return err
		} else if dir != "" {
			if err := writeFile(filepath.Join(dir, "pids.max"), strconv.Itoa(l.PidsMax)); err != nil {
				return err
			}
		}
	}
	if l.CPUMax > 0 {
		quota := max(int64(l.CPUMax*cpuPeriod), 1000)
		dir, v1, err := c.controller("cpu")
		switch {
		case err != nil || dir == "":
			return err
		case v1:
			if err := writeFile(filepath.Join(dir, "cpu.cfs_period_us"), strconv.Itoa(cpuPeriod)); err != nil {
				return err
			}
			return writeFile(filepath.Join(dir, "cpu.cfs_quota_us"), strconv.FormatInt(quota, 10))
		default:
			return writeFile(filepath.Join(dir, "cpu.max"), fmt.Sprintf("%d %d", quota, cpuPeriod))
		}
	}
	return nil
}

// memoryMax caps RAM and swap (none: an instance past its limit is
// OOM-killed rather than swapped out).
func (c *cgroupCell) memoryMax(bytes int64) error {
	v := strconv.FormatInt(bytes, 10)
	if c.memV1 {
		if err := writeFile(filepath.Join(c.memDir, "memory.limit_in_bytes"), v); err != nil {
			return err
		}
		if p := filepath.Join(c.memDir, "memory.memsw.limit_in_bytes"); exists(p) {
			return writeFile(p, v)
		}
		return nil
	}
	if err := writeFile(filepath.Join(c.memDir, "memory.max"), v); err != nil {
		return err
	}
	if p := filepath.Join(c.memDir, "memory.swap.max"); exists(p) {
		return writeFile(p, "0")
	}
	return nil
}

// controller is the cell's directory for controller ctrl: its own v2 one,
// or one made in ctrl's v1 hierarchy; "" when no hierarchy has ctrl (said
// at start).
func (c *cgroupCell) controller(ctrl string) (dir string, v1 bool, err error) {
	if root, ok := c.t.v1[ctrl]; ok {
		dir = filepath.Join(root, filepath.Base(c.appDir), c.id)
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := mkdirCgroup(d); err != nil {
				return "", false, err
			}
		}
		if !slices.Contains(c.v1, dir) {
			c.v1 = append(c.v1, dir)
		}
		return dir, true, nil
	}
	if c.t.has(ctrl) {
		return c.dir, false, nil
	}
	return "", false, nil
}

// prepare makes the fork clone the process straight into the cell
// (clone3 with CLONE_INTO_CGROUP): it runs nothing outside it, so nothing
// it forks can escape the kill.
func (c *cgroupCell) prepare(cmd *exec.Cmd) error {
	fd, err := unix.Open(c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", c.dir, err)
	}
	c.fd = fd
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	markEnv(cmd, c.id)
	return nil
}

// started joins the v1 cells. Unlike the v2 one, they are joined after the
// start: for its first instant the process (and anything it forks in that
// instant) is outside its v1 limits — never outside the v2 cell, so never
// outside the kill.
func (c *cgroupCell) started(pid int) error {
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
	for _, d := range c.v1 {
		if err := writeFile(filepath.Join(d, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// unstarted undoes prepare after a failed fork.
func (c *cgroupCell) unstarted() {
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
}

// kill ends every process in the cell: cgroup.kill, or on kernels before
// 5.14 freeze, SIGKILL each member, thaw.
func (c *cgroupCell) kill() { killCgroup(c.dir, c.t.hasKill) }

func killCgroup(dir string, hasKill bool) {
	if hasKill {
		_ = writeFile(filepath.Join(dir, "cgroup.kill"), "1")
		return
	}
	freeze := filepath.Join(dir, "cgroup.freeze")
	frozen := writeFile(freeze, "1") == nil
	for _, pid := range readPids(filepath.Join(dir, "cgroup.procs")) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if frozen {
		_ = writeFile(freeze, "0")
	}
}

// settle waits until the cell is empty, or settleTimeout.
func (c *cgroupCell) settle() { settleCgroup(c.dir, settleTimeout) }

// settleCgroup waits until cgroup.events says "populated 0": the kernel
// signals a change of that file to poll(2) as POLLPRI.
func settleCgroup(dir string, timeout time.Duration) bool {
	events := filepath.Join(dir, "cgroup.events")
	f, err := os.Open(events)
	if err != nil {
		return true // gone
	}
	defer f.Close()
	deadline := time.Now().Add(timeout)
	for {
		if readKey(events, "populated") != 1 {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLPRI}}
		_, err := unix.Poll(fds, int(min(left, 100*time.Millisecond).Milliseconds())+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return false
		}
	}
}

// memory is what the cell's memory controller counts, else the RSS of
// its processes.
func (c *cgroupCell) memory() (int64, bool) {
	switch {
	case c.memDir != "" && c.memV1:
		return readInt(filepath.Join(c.memDir, "memory.usage_in_bytes"))
	case c.memDir != "":
		return readInt(filepath.Join(c.memDir, "memory.current"))
	}
	return rssOf(readPids(filepath.Join(c.dir, "cgroup.procs"))), true
}

func readInt(p string) (int64, bool) {
	n, err := strconv.ParseInt(readString(p), 10, 64)
	return n, err == nil
}

// oomKilled reports whether the OOM killer killed anything in the cell.
func (c *cgroupCell) oomKilled() bool {
	switch {
	case c.memDir != "" && c.memV1:
		return readKey(filepath.Join(c.memDir, "memory.oom_control"), "oom_kill") > 0
	case c.memDir != "":
		return readKey(filepath.Join(c.memDir, "memory.events"), "oom_kill") > 0
	}
	return false
}

// release removes the cell's directories, and the app's when empty (a
// live daemon's instances keep it).
func (c *cgroupCell) release() {
	c.unstarted()
	for _, d := range append([]string{c.dir}, c.v1...) {
		_ = os.Remove(d)
		_ = os.Remove(filepath.Dir(d))
	}
}
