package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/procs"
)

// TestScaleInstances: an app with instances: 3 shows three serving
// instances by slot; gracevisorctl scale takes it to 5 and down to 2 under
// load without a failed request (the scaled-down instances drain and
// stop); a bad count or app is refused; and the next update applies the
// file's 3 again by scaling, without touching the serving instances.
func TestScaleInstances(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "")
	web.extra = "instances: 3\ndrain_timeout: 2"
	e.writeConfig(web)
	e.start()
	pids := e.servingSet("web", 3)
	if r := e.mustCtl(0, "status"); !strings.Contains(r.stdout, "SLOT") || strings.Count(r.stdout, "SERVING") != 2 {
		t.Errorf("status table %q: want a SLOT column and two further SERVING rows", r.stdout)
	}

	load, stopLoad := startTimedLoad(t, web.addr, 8)

	if r := e.mustCtl(0, "scale", "web", "5"); !strings.Contains(r.stdout, "web: scaled to 5 instances") {
		t.Errorf("scale up: %v", r)
	}
	five := e.servingSet("web", 5)
	e.mustCtl(0, "scale", "web", "2")
	two := e.servingSet("web", 2) // the others drained and stopped
	e.mustCtl(2, "scale", "web", "0")
	e.mustCtl(4, "scale", "nope", "2")
	for i := range 2 {
		if five[i] != pids[i] || two[i] != pids[i] {
			t.Errorf("slot %d: pids %d, %d, %d; scaling must not touch it", i, pids[i], five[i], two[i])
		}
	}
	for _, pid := range five[2:] {
		if testutil.Alive(pid) {
			t.Errorf("scaled-down pid %d still runs", pid)
		}
	}

	e.mustCtl(0, "update") // the file still says 3
	if three := e.servingSet("web", 3); three[0] != pids[0] || three[1] != pids[1] {
		t.Errorf("after the update: pids %v; want slots 0 and 1 untouched (%v)", three, pids)
	}
	stopLoad()
	if all, _ := load.failuresAfter(time.Time{}, time.Time{}); all != 0 {
		t.Errorf("%d of %d requests failed: %v", all, all+load.oks(), load.errs)
	}
}

// servingSet waits until n instances of the app serve, in slots 0…n-1 and
// nothing else is listed, and returns their pids by slot.
func (e *env) servingSet(name string, n int) []int {
	e.t.Helper()
	var pids []int
	testutil.Eventually(e.t, 20*time.Second, "the set of serving instances", func() bool {
		st := e.status()[name]
		if len(st.Instances) != n {
			return false
		}
		pids = pids[:0]
		for i, in := range st.Instances {
			if in.Slot != i || in.State != procs.InstServing {
				return false
			}
			pids = append(pids, in.PID)
		}
		return true
	})
	return pids
}

// TestRollingReloadFailsMidway: a rolling update whose second new instance
// never gets ready exits 1 and leaves the old config serving in every
// slot (the slot it had replaced runs the old config again), with no
// failed request; a reload into that config fails the same way.
func TestRollingReloadFailsMidway(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "")
	web.extra = "instances: 3\nreload_strategy: rolling\nmax_retries: 0\nstart_timeout: 2\ndrain_timeout: 2"
	e.writeConfig(web)
	e.start()
	before := e.servingSet("web", 3)

	load, stopLoad := startTimedLoad(t, web.addr, 8)

	sick := filepath.Join(e.dir, "sick")
	e.writeFile("sick1", "") // slot 1 of the new config never gets healthy
	next := web
	next.args = "--health-file=" + sick + "{instance}"
	e.writeConfig(next)
	if r := e.mustCtl(1, "update"); !strings.Contains(r.stderr, "going back to the old config") {
		t.Errorf("update: %v", r)
	}
	e.mustCtl(1, "reload", "web")
	after := e.servingSet("web", 3)
	if after[0] == before[0] || after[1] != before[1] || after[2] != before[2] {
		t.Errorf("pids %v, before %v; want slot 0 started again, slots 1 and 2 untouched", after, before)
	}
	for _, pid := range after {
		if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || strings.Contains(string(cmd), "health-file") {
			t.Errorf("pid %d runs %q (%v); want the old config", pid, cmd, err)
		}
	}
	stopLoad()
	if all, _ := load.failuresAfter(time.Time{}, time.Time{}); all != 0 {
		t.Errorf("%d of %d requests failed: %v", all, all+load.oks(), load.errs)
	}
	if st := e.status()["web"]; st.LastReload != procs.ReloadFailed {
		t.Errorf("last reload %q, want failed", st.LastReload)
	}
}
