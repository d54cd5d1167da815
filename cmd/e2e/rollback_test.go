package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/procs"
)

// TestRollbackWindowUnderLoad: an update reloads the app to a version that
// crashes 3 s after it became ready, with clients opening connections
// nonstop. Within the rollback window, traffic goes back to the old
// instance (its pid never changes) within one health interval of the
// crash; the only failed requests are those that were open on the crashing
// instance; status says rolled back; and a rollback by hand then has
// nothing to roll back to.
func TestRollbackWindowUnderLoad(t *testing.T) {
	const clients, healthInterval = 8, time.Second
	e := newEnv(t)
	web := e.newApp("web", "")
	web.extra = "rollback_window: 60\nhealthcheck_interval: 1\ndrain_timeout: 2"
	e.writeConfig(web)
	e.start()
	oldPID := e.servingPID("web")

	load, stopLoad := startTimedLoad(t, web.addr, clients)

	crashing := web
	crashing.args = "--exit-after=3s"
	e.writeConfig(crashing)
	e.mustCtl(0, "update")
	st := e.status()["web"]
	if len(st.Instances) != 2 || st.Instances[1].PID != oldPID || st.Instances[1].State != procs.InstDraining {
		t.Fatalf("after the update: %+v; want the new instance serving, the old one (pid %d) standing by", st, oldPID)
	}
	newPID := st.Instances[0].PID

	// Watch the new instance until it crashes, noting its open connections.
	var openSeen []int64
	lastAlive := time.Now()
	for testutil.Alive(newPID) {
		lastAlive = time.Now()
		if in := instanceOf(e.status()["web"], newPID); in != nil {
			openSeen = append(openSeen, in.Connections)
		}
	}
	crashed := time.Now()
	testutil.Eventually(t, 2*healthInterval, "traffic back on the old instance", func() bool {
		code, body, err := get(web.addr, "/")
		return err == nil && code == 200 && strings.Contains(body, "pid="+itoa(oldPID)+" ")
	})
	back := time.Since(crashed)
	time.Sleep(500 * time.Millisecond) // more load on the old instance
	stopLoad()

	failed, late := load.failuresAfter(lastAlive, crashed.Add(back))
	t.Logf("rollback: traffic back on pid %d %s after the crash of pid %d; %d requests ok, %d failed (%d outside the crash); "+
		"open connections seen on the crashing instance %v", oldPID, back.Round(time.Millisecond), newPID, load.oks(), failed, late, openSeen)
	if back > healthInterval {
		t.Errorf("traffic back %s after the crash; want within one health interval (%s)", back, healthInterval)
	}
	// A failed request is one whose connection was open on the crashing
	// instance: every failure falls between the last moment it was seen
	// alive and traffic being back. Each client has one request in flight,
	// and its retry may still reach the dying process's listen queue before
	// the switch: at most two per client.
	if late > 0 || failed > 2*clients {
		t.Errorf("%d failed requests, %d of them not at the crash (%v); want only those open on the crashing instance",
			failed, late, load.errs)
	}
	st = e.status()["web"]
	if st.State != procs.AppRunning || st.LastReload != procs.ReloadRolledBack || st.Instances[0].PID != oldPID ||
		!strings.Contains(st.LastError, "exited") {
		t.Errorf("status %+v; want RUNNING, rolled back to pid %d", st, oldPID)
	}
	if r := e.mustCtl(0, "status"); !strings.Contains(r.stdout, "web: last reload rolled back: pid "+itoa(newPID)) {
		t.Errorf("status output %q lacks the rollback", r.stdout)
	}
	if r := e.mustCtl(1, "rollback", "web"); !strings.Contains(r.stderr, "nothing to roll back to") {
		t.Errorf("rollback with no window open: %v", r)
	}
	if m := e.scrape(); m[`gracevisor_app_rollbacks_total{app="web"}`] != 1 {
		t.Errorf("rollbacks_total = %v, want 1", m[`gracevisor_app_rollbacks_total{app="web"}`])
	}
}

// TestRollbackByHand: within the window, gracevisorctl rollback switches
// back to the old instance and stops the new one.
func TestRollbackByHand(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "")
	web.extra = "rollback_window: 60"
	e.writeConfig(web)
	e.start()
	oldPID := e.servingPID("web")
	e.mustCtl(0, "reload", "web")
	newPID := e.servingPID("web")
	r := e.mustCtl(0, "rollback", "web")
	if !strings.Contains(r.stdout, "web: rolled back: pid "+itoa(oldPID)) || pidBehind(t, web.addr) != oldPID {
		t.Fatalf("rollback: %v; want pid %d serving again", r, oldPID)
	}
	testutil.Eventually(t, 15*time.Second, "the new instance to stop", func() bool { return !testutil.Alive(newPID) })
	e.mustCtl(1, "rollback", "web")
}

func instanceOf(st procs.AppStatus, pid int) *procs.InstanceStatus {
	for i := range st.Instances {
		if st.Instances[i].PID == pid {
			return &st.Instances[i]
		}
	}
	return nil
}

// startTimedLoad runs clients of a timedLoad against addr, and returns
// once each has had a request answered. stop (or the test's end) stops
// them and waits until they have.
func startTimedLoad(t *testing.T, addr string, clients int) (load *timedLoad, stop func()) {
	t.Helper()
	load = &timedLoad{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go load.client(ctx, &wg, addr)
	}
	stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(stop)
	testutil.Eventually(t, 10*time.Second, "load to flow", func() bool { return load.oks() >= clients })
	return load, stop
}

// timedLoad is load on fresh connections that notes when each request failed.
type timedLoad struct {
	mu       sync.Mutex
	ok       int
	failedAt []time.Time
	errs     []string
}

func (l *timedLoad) client(ctx context.Context, wg *sync.WaitGroup, addr string) {
	defer wg.Done()
	for ctx.Err() == nil {
		code, _, err := get(addr, "/")
		l.mu.Lock()
		if err != nil || code != 200 {
			l.failedAt = append(l.failedAt, time.Now())
			l.errs = append(l.errs, fmt.Sprintf("status %d, err %v", code, err))
		} else {
			l.ok++
		}
		l.mu.Unlock()
	}
}

func (l *timedLoad) oks() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok
}

// failuresAfter counts every failure, and those outside [from, to].
func (l *timedLoad) failuresAfter(from, to time.Time) (all, outside int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.failedAt {
		if at.Before(from) || at.After(to) {
			outside++
		}
	}
	return len(l.failedAt), outside
}
