package procs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gracevisor/gracevisor/config"
)

// mountinfo lines of the three layouts gracevisord must handle.
const (
	hybridMountinfo = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
`
	pureMountinfo = `29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	containerMountinfo = `612 600 0:26 /kubepods/pod1 /sys/fs/cgroup ro,relatime - cgroup2 cgroup rw
`
)

func TestParseCgroupMounts(t *testing.T) {
	cases := []struct {
		name, mountinfo, self string
		want                  cgroupMounts
	}{
		{"hybrid: v2 for the tree, v1 for limits", hybridMountinfo,
			"4:memory:/user.slice\n3:pids:/\n2:cpu,cpuacct:/\n0::/system.slice/g.service\n",
			cgroupMounts{unified: "/sys/fs/cgroup/unified/system.slice/g.service", v1: map[string]string{
				"memory": "/sys/fs/cgroup/memory/user.slice", "pids": "/sys/fs/cgroup/pids", "cpu": "/sys/fs/cgroup/cpu,cpuacct"}}},
		{"pure v2 (Debian 12, Ubuntu 22.04)", pureMountinfo, "0::/system.slice/gracevisord.service\n",
			cgroupMounts{unified: "/sys/fs/cgroup/system.slice/gracevisord.service", v1: map[string]string{}}},
		{"root cgroup", pureMountinfo, "0::/\n",
			cgroupMounts{unified: "/sys/fs/cgroup", unifiedRoot: true, v1: map[string]string{}}},
		{"container: the mount shows a part", containerMountinfo, "0::/kubepods/pod1/app\n",
			cgroupMounts{unified: "/sys/fs/cgroup/app", v1: map[string]string{}}},
		{"container: own cgroup outside the mount", containerMountinfo, "0::/elsewhere\n",
			cgroupMounts{v1: map[string]string{}}},
		{"no cgroup2 at all", "", "0::/\n", cgroupMounts{v1: map[string]string{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCgroupMounts(strings.NewReader(tc.mountinfo), strings.NewReader(tc.self))
			if err != nil {
				t.Fatal(err)
			}
			if got.unified != tc.want.unified || got.unifiedRoot != tc.want.unifiedRoot || len(got.v1) != len(tc.want.v1) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for c, dir := range tc.want.v1 {
				if got.v1[c] != dir {
					t.Errorf("v1 %s: %q, want %q", c, got.v1[c], dir)
				}
			}
		})
	}
}

func TestOwnerOf(t *testing.T) {
	if pid, start, ok := ownerOf("4242-99-7"); !ok || pid != 4242 || start != 99 {
		t.Errorf("ownerOf: %d %d %v", pid, start, ok)
	}
	for _, bad := range []string{"web", "1-2", "a-1-2", "0-1-2", "1-2-3-4"} {
		if _, _, ok := ownerOf(bad); ok {
			t.Errorf("ownerOf(%q) ok", bad)
		}
	}
}

// TestCgroupCellReal puts a process that forks a child into a real cell
// with limits, and kills the whole cell. It needs a writable cgroup
// (root); CI runs it.
func TestCgroupCellReal(t *testing.T) {
	m, err := readCgroupMounts()
	if err != nil {
		t.Skip(err)
	}
	tree, err := openCgroupTree(m)
	if err != nil {
		t.Skipf("no writable cgroup: %v", err)
	}
	cfg := &config.App{Name: "celltest", Limits: config.Limits{MemoryMaxMB: 64, PidsMax: 16, CPUMax: 0.5}}
	c := &Containment{owner: "1-1", plat: &containPlatform{cg: tree}}
	cl, err := c.newCell(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "sleep 60 & sleep 60")
	cmd.SysProcAttr = newSysProcAttr()
	if err := cl.prepare(cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cl.release()
		t.Fatal(err)
	}
	if err := cl.started(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	cc := cl.(*cgroupCell)
	self, _ := os.ReadFile("/proc/" + itoa(cmd.Process.Pid) + "/cgroup")
	if !strings.Contains(string(self), "/gracevisor/celltest/1-1-1") {
		t.Errorf("process cgroups:\n%s", self)
	}
	// Known but maybe 0: on a hybrid host, what the process touched before
	// it joined its v1 memory cell stays charged where it was.
	if used, ok := cl.memory(); !ok || used < 0 {
		t.Errorf("memory %d %v", used, ok)
	}
	cl.kill()
	cl.settle()
	_ = cmd.Wait()
	if pids := readPids(filepath.Join(cc.dir, "cgroup.procs")); len(pids) != 0 {
		t.Errorf("left in the cell: %v", pids)
	}
	cl.release()
	if exists(cc.dir) {
		t.Errorf("%s not removed", cc.dir)
	}
}

func newSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func itoa(n int) string { return strconv.Itoa(n) }
