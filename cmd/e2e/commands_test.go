package e2e

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/procs"
)

// TestCommands walks through every gracevisorctl command against one daemon,
// checking output and exit codes as a user would see them.
func TestCommands(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "")
	e.writeConfig(web)
	d := e.start()

	// status: a table, exit 0 when every app is RUNNING.
	r := e.mustCtl(0, "status")
	if !strings.HasPrefix(r.stdout, "NAME") || !strings.Contains(r.stdout, "web") || !strings.Contains(r.stdout, "RUNNING") {
		t.Fatalf("status table: %q", r.stdout)
	}
	pid := e.servingPID("web")
	if got := pidBehind(t, web.addr); got != pid {
		t.Fatalf("external %s is served by pid %d, status says %d", web.addr, got, pid)
	}

	// Unknown apps: exit 4 from every command that names one.
	for _, args := range [][]string{{"status", "nope"}, {"start", "nope"}, {"stop", "nope"},
		{"restart", "nope"}, {"reload", "nope"}, {"logs", "nope"}, {"fg", "nope"}} {
		if r := e.ctl(args...); r.code != 4 || !oneLine(r.stderr) {
			t.Errorf("%q: %v; want exit 4 and one error line", args, r)
		}
	}
	// Usage errors: exit 2.
	for _, args := range [][]string{{"reload"}, {"frobnicate"}, {"logs", "web", "-n", "x"}, {"status", "--no-such-flag"}} {
		if r := e.ctl(args...); r.code != 2 || !oneLine(r.stderr) {
			t.Errorf("%q: %v; want exit 2 and one error line", args, r)
		}
	}

	// reload: prints the new pid and the switch time; traffic moves.
	r = e.mustCtl(0, "reload", "web")
	if !strings.Contains(r.stdout, "web: reloaded: new pid") || !strings.Contains(r.stdout, "switched in") {
		t.Fatalf("reload output: %q", r.stdout)
	}
	newPID := e.servingPID("web")
	if newPID == pid || pidBehind(t, web.addr) != newPID {
		t.Fatalf("after reload: status pid %d (old %d), served by %d", newPID, pid, pidBehind(t, web.addr))
	}
	testutil.Eventually(t, 15*time.Second, "old instance to exit after drain", func() bool { return !testutil.Alive(pid) })

	var res []procs.ReloadResult
	r = e.mustCtl(0, "reload", "--all", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res) != 1 || res[0].App != "web" || res[0].PID == newPID {
		t.Fatalf("reload --all --json: %q (%v)", r.stdout, err)
	}

	// stop: the app is STOPPED, status exits 3, the port refuses. The reply
	// carries the call's own result beside the app object.
	var stopped []procs.OpReport
	r = e.mustCtl(0, "stop", "web", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &stopped); err != nil || len(stopped) != 1 ||
		stopped[0].Result != (procs.OpResult{App: "web", State: procs.AppStopped}) {
		t.Fatalf("stop --json: %q (%v)", r.stdout, err)
	}
	if st := e.status()["web"]; st.State != procs.AppStopped {
		t.Fatalf("after stop: %+v", st)
	}
	e.mustCtl(3, "status")
	e.mustCtl(3, "status", "web")
	if _, _, err := get(web.addr, "/"); err == nil {
		t.Fatal("a stopped app still answers")
	}

	// start and restart bring it back with new pids.
	r = e.mustCtl(0, "start", "web")
	started := e.servingPID("web")
	if want := "web: started (RUNNING, pid " + itoa(started) + ")"; strings.TrimSpace(r.stdout) != want {
		t.Fatalf("start output %q, want %q", r.stdout, want)
	}
	e.mustCtl(0, "status")
	r = e.mustCtl(0, "restart", "web")
	if !strings.Contains(r.stdout, "web: restarted") {
		t.Fatalf("restart output %q", r.stdout)
	}
	restarted := e.servingPID("web")
	if restarted == started || pidBehind(t, web.addr) != restarted {
		t.Fatalf("restart: pid %d → %d", started, restarted)
	}

	// logs: the app's own startup line.
	r = e.mustCtl(0, "logs", "web", "-n", "100")
	if !strings.Contains(r.stdout, "demoapp pid="+itoa(restarted)+" listening") {
		t.Fatalf("logs do not show the app's start line for pid %d: %q", restarted, r.stdout)
	}
	e.mustCtl(0, "logs", "web", "--stderr")

	testFollow(t, e, web, "logs", "web", "-f", "-n", "1")
	testFollow(t, e, web, "fg", "web", "-n", "1")

	// update with nothing changed.
	if r := e.mustCtl(0, "update"); strings.TrimSpace(r.stdout) != "no changes" {
		t.Fatalf("update: %q", r.stdout)
	}

	// version: both sides.
	r = e.mustCtl(0, "version")
	if !strings.Contains(r.stdout, "gracevisorctl e2e-test") || !strings.Contains(r.stdout, "gracevisord   e2e-test") {
		t.Fatalf("version: %q", r.stdout)
	}

	// completion comes from cobra.
	if r := runCtl(t, "completion", "bash"); r.code != 0 || !strings.Contains(r.stdout, "gracevisorctl") {
		t.Fatalf("completion bash: %v", r)
	}

	// --conf finds the daemon through the config's rpc section.
	if r := runCtl(t, "--conf", e.dir, "status"); r.code != 0 {
		t.Fatalf("status --conf: %v", r)
	}

	// shutdown: returns once the apps are gone; the daemon exits 0.
	last := e.servingPID("web")
	r = e.mustCtl(0, "shutdown")
	if testutil.Alive(last) {
		t.Errorf("shutdown returned while app pid %d still runs", last)
	}
	if code := d.waitExit(15 * time.Second); code != 0 {
		t.Fatalf("gracevisord exit %d after shutdown:\n%s", code, d.output)
	}
	if r := e.ctl("status"); r.code != 5 || !strings.Contains(r.stderr, "daemon unreachable") {
		t.Fatalf("status after shutdown: %v; want exit 5", r)
	}
}

// testFollow runs a following command (logs -f, fg), makes the app log a new
// line by reloading it, checks the line arrives, then detaches with Ctrl-C.
func testFollow(t *testing.T, e *env, web app, args ...string) {
	t.Helper()
	out := &testutil.LockedBuffer{}
	cmd := exec.Command(binCtl, append([]string{"--conf", e.dir, "--rpc", e.rpc}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// With -n 1 the last line arrives once the stream is open; a reload
	// after that writes a new line the follower must see.
	testutil.Eventually(t, 10*time.Second, "`"+strings.Join(args, " ")+"` to connect", func() bool {
		return strings.Contains(out.String(), "demoapp pid=")
	})
	e.mustCtl(0, "reload", "web")
	want := "demoapp pid=" + itoa(e.servingPID("web")) + " listening"
	testutil.Eventually(t, 10*time.Second, "`"+strings.Join(args, " ")+"` to show "+want, func() bool {
		return strings.Contains(out.String(), want)
	})
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%q after Ctrl-C: %v; output %q", args, err, out)
	}
	if _, _, err := get(web.addr, "/"); err != nil {
		t.Fatalf("the app stopped after detaching %q: %v", args, err)
	}
}

func oneLine(s string) bool {
	return strings.Count(s, "\n") == 1 && strings.HasPrefix(s, "gracevisorctl: ")
}

func itoa(n int) string { return strconv.Itoa(n) }
