package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/procs"
)

// TestSIGTERMDuringBlockedReload: a reload waits on a new instance that
// sleeps before listening; SIGTERM to the daemon then ends everything: the
// daemon exits 0 promptly, the blocked gracevisorctl fails with one error
// line, and neither the old nor the starting instance survives.
func TestSIGTERMDuringBlockedReload(t *testing.T) {
	e := newEnv(t)
	slow := filepath.Join(e.dir, "slow")
	web := e.newApp("web", "")
	// While the file "slow" exists, new instances sleep 60 s before they
	// listen. exec keeps the pid: the instance's pid is demoapp's.
	demo := fmt.Sprintf("%s --host=127.0.0.1 --port={port} --grace=2s", binDemo)
	web.extra = fmt.Sprintf("command: \"sh -c 'test -e %s && exec %s --start-delay=60s || exec %s'\"\nstart_timeout: 60",
		slow, demo, demo)
	e.writeConfig(web)
	d := e.start()
	oldPID := e.servingPID("web")

	e.writeFile("slow", "")
	reload := e.ctlAsync("reload", "web")
	var newPID int
	testutil.Eventually(t, 10*time.Second, "the slow new instance to be STARTING as demoapp", func() bool {
		for _, in := range e.instances("web") {
			if in.State == procs.InstStarting && in.PID > 0 && isDemoapp(in.PID) {
				newPID = in.PID
				return true
			}
		}
		return false
	})
	select {
	case r := <-reload:
		t.Fatalf("reload returned while its new instance was still starting: %v", r)
	default:
	}

	d.signal(syscall.SIGTERM)
	began := time.Now()
	if code := d.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM during a reload:\n%s", code, d.output)
	}
	exitAfter := time.Since(began)
	var r result
	select {
	case r = <-reload:
	case <-time.After(10 * time.Second):
		t.Fatal("gracevisorctl reload still blocked 10 s after the daemon exited")
	}
	t.Logf("daemon exited %s after SIGTERM; blocked reload ended with %v", exitAfter.Round(time.Millisecond), r)
	if r.code == 0 || !oneLine(r.stderr) || !strings.Contains(r.stderr, "web") || !strings.Contains(r.stderr, "shutting down") {
		t.Fatalf("blocked reload: %v; want a non-zero exit and one error line naming web and the shutdown", r)
	}
	for _, pid := range []int{oldPID, newPID} {
		if testutil.Alive(pid) {
			t.Errorf("instance pid %d outlived the daemon", pid)
		}
	}
	assertNoAppProcess(t)
	if !testutil.Refused(web.addr) {
		t.Fatal("the app's port is still open after shutdown")
	}
}

// isDemoapp reports whether pid runs this run's demoapp binary (and not the
// sh that execs it).
func isDemoapp(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.HasPrefix(string(b), binDemo+"\x00")
}

// TestSecondSIGTERMKillsAtOnce: an app that ignores SIGTERM would hold a
// graceful shutdown for its 30 s stop_timeout; a second SIGTERM makes the
// daemon SIGKILL it and exit at once.
func TestSecondSIGTERMKillsAtOnce(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "--ignore-term")
	web.extra = "stop_timeout: 30"
	e.writeConfig(web)
	d := e.start()
	pid := e.servingPID("web")

	d.signal(syscall.SIGTERM)
	testutil.Eventually(t, 10*time.Second, "the first SIGTERM to start the shutdown", func() bool {
		return strings.Contains(d.output.String(), "shutting down") && testutil.Refused(web.addr)
	})
	// The app ignores its stop signal, so the graceful stop must go on (up to
	// stop_timeout): the daemon must not exit during a 1 s window.
	select {
	case <-d.exited:
		t.Fatalf("daemon exited (%v) while its app ignored SIGTERM:\n%s", d.state, d.output)
	case <-time.After(time.Second):
	}
	if !testutil.Alive(pid) {
		t.Fatalf("app pid %d died on SIGTERM; it should ignore it", pid)
	}
	// While it stops, status still shows the instance, as STOPPING.
	if ins := e.instances("web"); len(ins) != 1 || ins[0].PID != pid || ins[0].State != procs.InstStopping {
		t.Errorf("status during the shutdown: %+v; want pid %d STOPPING", ins, pid)
	}

	d.signal(syscall.SIGTERM)
	began := time.Now()
	code := d.waitExit(10 * time.Second)
	took := time.Since(began)
	t.Logf("exit %d %s after the second SIGTERM (stop_timeout 30 s)", code, took.Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("exit %d after a second SIGTERM, want 0:\n%s", code, d.output)
	}
	if took > 5*time.Second {
		t.Fatalf("daemon took %s to exit after the second SIGTERM; want well under stop_timeout", took)
	}
	if !strings.Contains(d.output.String(), "second signal") {
		t.Errorf("the second signal is not logged:\n%s", d.output)
	}
	if testutil.Alive(pid) {
		t.Fatalf("app pid %d outlived the daemon", pid)
	}
	assertNoAppProcess(t)
}

// TestBusyExternalPortNamesApp: the second of two apps finds its external
// port taken. gracevisord prints exactly one line naming that app and the
// address, exits 1, and leaves no app process and no open port behind.
// (TestBusyPortsExit1 covers the single-app case with the log on stderr.)
func TestBusyExternalPortNamesApp(t *testing.T) {
	e := newEnv(t)
	web, api := e.newApp("web", ""), e.newApp("api", "")
	e.writeConfig(web, api)
	ln, err := net.Listen("tcp", api.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	d := e.spawnQuiet()
	if code := d.waitExit(30 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, d.output)
	}
	out := d.output.String()
	t.Logf("start-up error: %s", strings.TrimSpace(out))
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "gracevisord: ") {
		t.Fatalf("want exactly one line starting with \"gracevisord: \", got:\n%s", out)
	}
	for _, want := range []string{"api", api.addr, "address already in use"} {
		if !strings.Contains(out, want) {
			t.Fatalf("message %q does not name %q", out, want)
		}
	}
	if strings.Contains(out, "web") {
		t.Errorf("message %q blames app web, whose port was free", out)
	}
	assertNoAppProcess(t)
	if !testutil.Refused(web.addr) || !testutil.Refused(e.rpc) {
		t.Fatal("a failed start-up left a port open")
	}
}
