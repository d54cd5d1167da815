package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/procs"
)

// containModes are the two ways gracevisord holds instances; every test
// here runs in both (cgroup mode is skipped where no cgroup is writable).
var containModes = []struct {
	mode string
	env  []string
}{
	{procs.ContainCgroup, nil},
	{procs.ContainProcessGroup, []string{procs.ContainEnv + "=" + procs.ContainProcessGroup}},
}

// startContained starts gracevisord with env and waits for its API; it
// skips the test when the daemon cannot use the containment mode wanted.
func (e *env) startContained(mode string, env []string) *daemon {
	e.t.Helper()
	d := e.spawnDaemon([]string{"--log-stderr"}, env)
	testutil.Eventually(e.t, 30*time.Second, "gracevisord's API", func() bool {
		if testutil.Closed(d.exited) {
			e.t.Fatalf("gracevisord exited at start-up (%v):\n%s", d.state, d.output)
		}
		return e.ctl("version").code == 0
	})
	var v struct {
		Daemon api.Version `json:"daemon"`
	}
	r := e.mustCtl(0, "version", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		e.t.Fatalf("version --json %q: %v", r.stdout, err)
	}
	if got := v.Daemon.Containment; got != mode {
		if mode == procs.ContainCgroup {
			e.t.Skipf("no writable cgroup here (containment %q):\n%s", got, d.output)
		}
		e.t.Fatalf("containment %q, want %q", got, mode)
	}
	return d
}

// grandchildOf finds the live demoapp grandchild holding addr.
func grandchildOf(t *testing.T, addr string) int {
	t.Helper()
	var pid int
	testutil.Eventually(t, 30*time.Second, "the grandchild holding "+addr, func() bool {
		pids := pidsWhere(func(cmdline string) bool {
			return strings.Contains(cmdline, "__demoapp_grandchild__\x00"+addr)
		})
		if len(pids) != 1 {
			return false
		}
		pid = pids[0]
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return pid
}

// portFree reports whether addr can be bound.
func portFree(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// TestSweepAfterDaemonKilled: a grandchild that left its instance's
// process group (double fork, new session) survives a SIGKILLed daemon —
// Pdeathsig reaches only children — and the next daemon kills it before
// it binds anything, logging its pid: the port is free again.
func TestSweepAfterDaemonKilled(t *testing.T) {
	for _, m := range containModes {
		t.Run(m.mode, func(t *testing.T) {
			e := newEnv(t)
			hold := testutil.FreeAddr(t)
			a := e.newApp("orphans", "--grandchild="+hold)
			e.writeConfig(a)
			d := e.startContained(m.mode, m.env)
			gpid := grandchildOf(t, hold)
			d.signal(syscall.SIGKILL)
			d.waitExit(10 * time.Second)
			if !testutil.Alive(gpid) {
				t.Fatalf("grandchild %d died with the daemon: the test proves nothing", gpid)
			}

			a.args = "" // the next daemon's instance holds nothing
			e.writeConfig(a)
			d2 := e.startContained(m.mode, m.env)
			if testutil.Alive(gpid) {
				t.Fatalf("grandchild %d survives the next daemon's start:\n%s", gpid, d2.output)
			}
			if !portFree(hold) {
				t.Errorf("%s is still held after the sweep", hold)
			}
			if want := fmt.Sprintf("pid=%d", gpid); !strings.Contains(d2.output.String(), "killed a process left by a gracevisord that died") ||
				!strings.Contains(d2.output.String(), want) {
				t.Errorf("the sweep did not log %s:\n%s", want, d2.output)
			}
			e.mustCtl(0, "status", "orphans")
		})
	}
}

// TestStopKillsWholeInstance: stop past stop_timeout of an app whose
// grandchild (outside its process group) ignores SIGTERM leaves nothing:
// the grandchild is killed, its port is free, the instance's cgroup gone.
func TestStopKillsWholeInstance(t *testing.T) {
	for _, m := range containModes {
		t.Run(m.mode, func(t *testing.T) {
			e := newEnv(t)
			hold := testutil.FreeAddr(t)
			a := e.newApp("stubborn", "--grandchild="+hold+" --ignore-term")
			a.extra = "stop_timeout: 1"
			e.writeConfig(a)
			d := e.startContained(m.mode, m.env)
			gpid := grandchildOf(t, hold)
			cg := cgroupDir(t, e.servingPID("stubborn"))
			if m.mode == procs.ContainCgroup && !strings.Contains(cg, "/gracevisor/stubborn/") {
				t.Fatalf("instance runs in cgroup %s, want one under gracevisor/stubborn/", cg)
			}
			if got := cgroupDir(t, gpid); got != cg {
				t.Errorf("grandchild in cgroup %s, instance in %s", got, cg)
			}
			e.mustCtl(0, "stop", "stubborn")
			if testutil.Alive(gpid) {
				t.Fatalf("grandchild %d outlived stop:\n%s", gpid, d.output)
			}
			if !portFree(hold) {
				t.Errorf("%s still held after stop", hold)
			}
			if m.mode == procs.ContainCgroup {
				if _, err := os.Stat(cg); !os.IsNotExist(err) {
					t.Errorf("instance cgroup %s still there after stop (%v)", cg, err)
				}
			}
		})
	}
}

// TestMemoryMaxOOMKilled: an instance that allocates past memory_max is
// OOM-killed, status says oom-killed, and it is restarted.
func TestMemoryMaxOOMKilled(t *testing.T) {
	e := newEnv(t)
	a := e.newApp("hungry", "")
	a.extra = "memory_max: 64"
	e.writeConfig(a)
	d := e.startContained(procs.ContainCgroup, nil)
	pid := e.servingPID("hungry")
	if _, _, err := get(a.addr, "/alloc?mb=200"); err == nil {
		t.Fatalf("allocating 200 MB under memory_max 64 succeeded:\n%s", d.output)
	}
	testutil.Eventually(t, 20*time.Second, "a new instance after the OOM kill", func() bool {
		st := e.status()["hungry"]
		return st.Reason == procs.ReasonOOMKilled && st.State == procs.AppRunning &&
			len(st.Instances) == 1 && st.Instances[0].PID != pid
	})
	if st := e.status()["hungry"]; !strings.Contains(st.LastError, "oom-killed") {
		t.Errorf("error %q does not say oom-killed", st.LastError)
	}
	if testutil.Alive(pid) {
		t.Errorf("OOM-killed pid %d alive", pid)
	}
	if code, body, err := get(a.addr, "/"); err != nil || code != 200 {
		t.Errorf("after the restart: %d %q %v", code, body, err)
	}
	if !strings.Contains(d.output.String(), "OOM killer") {
		t.Errorf("no log line about the OOM kill:\n%s", d.output)
	}
}

// TestMemoryReloadUnderLoad: an instance that stays above memory_reload is
// replaced by a hitless reload: no request fails meanwhile.
func TestMemoryReloadUnderLoad(t *testing.T) {
	for _, m := range containModes {
		t.Run(m.mode, func(t *testing.T) {
			e := newEnv(t)
			a := e.newApp("leaky", "")
			a.extra = "memory_reload: 60\nhealthcheck_interval: 200ms"
			e.writeConfig(a)
			d := e.startContained(m.mode, m.env)
			pid := e.servingPID("leaky")
			var ok, failed atomic.Int64
			stop := make(chan struct{})
			done := make(chan struct{})
			go getLoop(a.addr, stop, done, &ok, &failed)
			if code, body, err := get(a.addr, "/alloc?mb=100"); err != nil || code != 200 {
				t.Fatalf("alloc: %d %q %v", code, body, err)
			}
			testutil.Eventually(t, 20*time.Second, "the memory reload", func() bool {
				st := e.status()["leaky"]
				return st.State == procs.AppRunning && len(st.Instances) == 1 && st.Instances[0].PID != pid
			})
			close(stop)
			<-done
			if failed.Load() != 0 || ok.Load() == 0 {
				t.Errorf("under load: %d ok, %d failed:\n%s", ok.Load(), failed.Load(), d.output)
			}
			if !strings.Contains(d.output.String(), "stays above memory_reload") {
				t.Errorf("the reload was not logged:\n%s", d.output)
			}
		})
	}
}

// getLoop GETs / on addr until stop closes, counting outcomes.
func getLoop(addr string, stop <-chan struct{}, done chan<- struct{}, ok, failed *atomic.Int64) {
	defer close(done)
	for !testutil.Closed(stop) {
		if code, _, err := get(addr, "/"); err == nil && code == 200 {
			ok.Add(1)
		} else {
			failed.Add(1)
		}
	}
}

// cgroupDir is the directory of pid's cgroup in the v2 hierarchy.
func cgroupDir(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	var rel string
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			rel = p
		}
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if pre, post, _ := strings.Cut(sc.Text(), " - "); strings.HasPrefix(post, "cgroup2 ") {
			return filepath.Join(strings.Fields(pre)[4], rel)
		}
	}
	return rel
}
