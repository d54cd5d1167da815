package e2e

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// TestDaemonKilledLeavesNoApps: SIGKILL gives gracevisord no chance to stop
// its apps; they must die with it (Pdeathsig), and a new daemon must start
// cleanly on the same ports.
func TestDaemonKilledLeavesNoApps(t *testing.T) {
	e := newEnv(t)
	web, api := e.newApp("web", ""), e.newApp("api", "")
	e.writeConfig(web, api)
	d := e.start()
	var pids []int
	for _, st := range e.status() {
		for _, in := range st.Instances {
			pids = append(pids, in.PID)
		}
	}
	if len(pids) != 2 {
		t.Fatalf("want 2 app pids, got %v", pids)
	}

	d.signal(syscall.SIGKILL)
	d.waitExit(10 * time.Second)
	testutil.Eventually(t, 10*time.Second, "app processes to die with the daemon", func() bool {
		for _, pid := range pids {
			if testutil.Alive(pid) {
				return false
			}
		}
		return true
	})

	e.start()
	e.mustCtl(0, "status")
	for _, a := range []app{web, api} {
		if pid := pidBehind(t, a.addr); containsInt(pids, pid) {
			t.Fatalf("%s served by old pid %d after the restart", a.name, pid)
		}
	}
}

func containsInt(list []int, n int) bool {
	for _, v := range list {
		if v == n {
			return true
		}
	}
	return false
}

// TestSIGTERMStopsAppsAndExits0.
func TestSIGTERMStopsAppsAndExits0(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "")
	e.writeConfig(web)
	d := e.start()
	pid := e.servingPID("web")
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(20 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, d.output)
	}
	if testutil.Alive(pid) {
		t.Fatalf("app pid %d outlived a graceful shutdown", pid)
	}
	if !testutil.Refused(web.addr) || !testutil.Refused(e.rpc) {
		t.Fatal("ports still open after shutdown")
	}
}

// TestBadConfigExit1: problems are printed, one line each naming file, line
// and key; nothing starts.
func TestBadConfigExit1(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "")
	web.extra = "stop_signa: TERM"
	e.writeConfig(web)
	d := e.spawn()
	if code := d.waitExit(10 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, d.output)
	}
	out := d.output.String()
	if !strings.Contains(out, "gracevisor.yaml:") || !strings.Contains(out, "stop_signa") || strings.Count(out, "\n") != 1 {
		t.Fatalf("want one line naming file:line and the key stop_signa, got:\n%s", out)
	}
	if !testutil.Refused(web.addr) || !testutil.Refused(e.rpc) {
		t.Fatal("a bad config half-started the daemon")
	}
}

// TestBusyPortsExit1: a taken control API port or external port fails
// start-up with a clear message, and no app is left running.
func TestBusyPortsExit1(t *testing.T) {
	for _, which := range []string{"rpc", "external"} {
		t.Run(which, func(t *testing.T) {
			e := newEnv(t)
			web := e.newApp("web", "")
			e.writeConfig(web)
			busy := e.rpc
			if which == "external" {
				busy = web.addr
			}
			ln, err := net.Listen("tcp", busy)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			d := e.spawn()
			if code := d.waitExit(30 * time.Second); code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, d.output)
			}
			if out := d.output.String(); !strings.Contains(out, "address already in use") || !strings.Contains(out, busy) {
				t.Fatalf("message should name %s and the cause:\n%s", busy, out)
			}
			assertNoAppProcess(t)
		})
	}
}

// assertNoAppProcess checks that no demoapp of this test run is alive.
func assertNoAppProcess(t *testing.T) {
	t.Helper()
	// Every demoapp in these tests is started from binDemo; any still
	// running after its daemon exited would be a leak.
	testutil.Eventually(t, 10*time.Second, "app processes to be gone", func() bool {
		return len(runningDemoapps()) == 0
	})
}

// TestShutdownDelay: with shutdown_delay, SIGTERM turns /healthz to 503 at
// once while every listener keeps accepting and the apps keep serving for
// the delay; only then do the apps stop and the daemon exits.
func TestShutdownDelay(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "")
	e.writeConfigWith("shutdown_delay: 2\n", web)
	d := e.start()
	d.signal(syscall.SIGTERM)
	sent := time.Now()
	testutil.Eventually(t, 5*time.Second, "/healthz to say stopping", func() bool {
		code, body, err := get(e.rpc, "/healthz")
		return err == nil && code == 503 && body == "stopping\n"
	})
	for time.Since(sent) < 1500*time.Millisecond { // well inside the delay
		if code, _, err := get(web.addr, "/"); err != nil || code != 200 {
			t.Fatalf("%v into the delay: a new client got %d %v", time.Since(sent).Round(time.Millisecond), code, err)
		}
	}
	if code := d.waitExit(20 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if took := time.Since(sent); took < 2*time.Second {
		t.Fatalf("exited %v after SIGTERM, before shutdown_delay (2 s)", took)
	}
	assertNoAppProcess(t)
}
