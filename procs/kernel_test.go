package procs

import (
	"fmt"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
)

// TestOOMKilledIsReportedAndRestarted: an instance whose exit wraps
// errOOMKilled sets the app's reason, emits oom_killed, counts it, and is
// restarted as any crash.
func TestOOMKilledIsReportedAndRestarted(t *testing.T) {
	h := startFake(t, newFakeSystem(fakeRun{}), nil)
	h.serves(0)
	h.sys.proc(0).exit(fmt.Errorf("%w (signal: killed)", errOOMKilled))
	st := h.await("a restart after the OOM kill", func(st AppStatus) bool {
		return st.State == AppRunning && h.sys.starts() == 2
	})
	if st.Reason != ReasonOOMKilled {
		t.Errorf("reason %q, want %q", st.Reason, ReasonOOMKilled)
	}
	h.events(EventOOMKilled, EventCrash, EventRestart, EventRecovered)
	if m := metricsOf(t, h.s, "web"); m.OOMKills != 1 || m.Crashes != 1 {
		t.Errorf("oom kills %d, crashes %d; want 1, 1", m.OOMKills, m.Crashes)
	}
	h.sys.proc(1).exit(fmt.Errorf("exit status 1")) // an ordinary crash clears it
	h.await("the reason cleared", func(st AppStatus) bool { return st.Reason == "" })
}

// TestMemoryReload: a serving instance above memory_reload for two checks
// is replaced by a reload; the next one is not replaced again within
// start_timeout, however high it stays.
func TestMemoryReload(t *testing.T) {
	h := startFake(t, newFakeSystem(fakeRun{}), func(c *config.App, _ *timing) {
		c.Limits.MemoryReloadMB = 1
		c.StartTimeout = time.Hour
		c.Healthcheck = "" // memory is watched without a healthcheck too
	})
	h.serves(0)
	first := h.sys.proc(0).pid()
	h.sys.proc(0).setMemory(2 << 20)
	h.await("the memory reload", func(st AppStatus) bool {
		return st.State == AppRunning && len(st.Instances) == 1 && st.Instances[0].PID != first
	})
	if m := metricsOf(t, h.s, "web"); m.MemoryReloads != 1 || m.ReloadsOK != 1 {
		t.Errorf("memory reloads %d, reloads ok %d; want 1, 1", m.MemoryReloads, m.ReloadsOK)
	}
	h.sys.proc(1).setMemory(2 << 20)
	// An absence: give the watcher (1 ms interval) many chances to report.
	time.Sleep(50 * time.Millisecond)
	if n := h.sys.starts(); n != 2 {
		t.Errorf("%d starts: reloaded again within start_timeout", n)
	}
}
