package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/internal/testutil"
)

// TestUpgradeUnderLoad: clients on fresh connections run throughout; a
// long-lived echo connection keeps echoing across an upgrade, and its old
// daemon exits only once that client closes (an upgrade asked for meanwhile
// waits for it); then more upgrades back to back. No request fails, the pid
// changes every time, every old daemon and its instances are gone after
// their drain, and the daemons' shared log holds only whole lines.
func TestUpgradeUnderLoad(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "")
	echo := e.echoApp("echo") // drain_timeout 0: an old instance waits for its last client
	e.writeConfig(web, echo)
	u := e.spawnUpgradable()
	l := startLoad(t, web.addr, 8)

	stream := newStreamer(t, echo.addr)
	first := u.pid()
	o := u.upgrade()
	if o.result == nil {
		t.Fatalf("upgrade 1: %+v\n%s", o, u.output())
	}
	if want := []string{"started", "app_ready", "app_ready", "ready", "handover", "draining", "done"}; !slices.Equal(o.steps(), want) {
		t.Fatalf("steps %v, want %v", o.steps(), want)
	}
	if o.result.OldPID != first || o.result.NewPID == first || u.pid() != o.result.NewPID {
		t.Fatalf("result %+v; daemon now %d", o.result, u.pid())
	}
	stream.waitLines(t, stream.got.Load()+5) // still echoing, through the old daemon
	if !testutil.Alive(first) {
		t.Fatal("the old daemon exited with a client still connected")
	}
	second := make(chan upgradeOutcome, 1)
	go func() { second <- u.upgrade() }() // waits: its predecessor still drains
	testutil.Eventually(t, 10*time.Second, "the second upgrade to wait", func() bool {
		return u.version().State == api.DaemonUpgrading
	})
	select {
	case o := <-second:
		t.Fatalf("an upgrade finished while the previous daemon drained: %+v", o)
	case <-time.After(500 * time.Millisecond):
	}
	stream.finish(t)
	testutil.Eventually(t, 15*time.Second, "the old daemon to exit once its last client closed", func() bool { return !testutil.Alive(first) })
	o2 := <-second
	if o2.result == nil || o2.steps()[0] != api.StepWaiting {
		t.Fatalf("upgrade 2: steps %v, %+v", o2.steps(), o2)
	}

	pids := []int{first, o.result.NewPID, o2.result.NewPID}
	var took []time.Duration
	for i := 3; i <= 10; i++ {
		o := u.upgrade()
		if o.result == nil {
			t.Fatalf("upgrade %d: %+v\n%s", i, o, u.output())
		}
		if slices.Contains(pids, o.result.NewPID) {
			t.Fatalf("upgrade %d: pid %d again", i, o.result.NewPID)
		}
		pids = append(pids, o.result.NewPID)
		took = append(took, time.Duration(o.result.DurationMS*float64(time.Millisecond)))
	}
	rate := l.stop()
	l.check(t)
	t.Logf("%d requests at %.0f/s through 10 upgrades, 0 failed; upgrade took %v", l.ok.Load(), rate, took)
	for _, pid := range pids[:len(pids)-1] {
		testutil.Eventually(t, 15*time.Second, fmt.Sprintf("old daemon %d to exit", pid), func() bool { return !testutil.Alive(pid) })
	}
	if apps := runningDemoapps(); len(apps) != 2 {
		t.Fatalf("%d demoapps run, want the 2 instances of the last daemon: %v", len(apps), apps)
	}
	checkSharedLog(t, filepath.Join(e.dir, "log", "gracevisor.log"), pids)
}

// checkSharedLog: every line of the log the daemons shared is whole (one
// slog record, with the daemon's pid), and every daemon wrote some.
func checkSharedLog(t *testing.T, path string, pids []int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wrote := map[int]int{}
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var pid int
		if !strings.HasPrefix(line, "time=") || strings.Count(line, "time=") != 1 {
			t.Fatalf("log line %d is not one whole record: %q", i+1, line)
		}
		if _, err := fmt.Sscanf(line[strings.Index(line, "daemon_pid="):], "daemon_pid=%d", &pid); err != nil {
			t.Fatalf("log line %d has no daemon_pid: %q", i+1, line)
		}
		wrote[pid]++
	}
	for _, pid := range pids {
		if wrote[pid] == 0 {
			t.Errorf("daemon %d wrote no line to the shared log", pid)
		}
	}
}

// TestFailedUpgradeChangesNothing: whatever stops the new daemon from
// taking over, the upgrade answers with its error, and the old daemon and
// its instances serve on, under load, without a failed request.
func TestFailedUpgradeChangesNothing(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "")
	e.writeConfig(web)
	u := e.spawnUpgradable()
	l := startLoad(t, web.addr, 4)
	pid, instance := u.pid(), pidBehind(t, web.addr)
	good, err := os.ReadFile(filepath.Join(e.dir, "gracevisor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		break_ func()
		want   string
	}{
		{"invalid config", func() { e.writeFile("gracevisor.yaml", string(good)+"bogus_key: 1\n") }, "bogus_key"},
		{"missing binary", func() { os.Remove(u.bin) }, "no such file"},
		{"an app never ready", func() {
			slow := web
			slow.args, slow.extra = "--start-delay=30s", "start_timeout: 1"
			e.writeConfig(slow)
		}, "web:"},
		{"new daemon crashes at start", func() { os.WriteFile(u.bin, []byte("#!/bin/sh\nexit 3\n"), 0o755) }, "exit status 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.break_()
			o := u.upgrade()
			if o.result != nil || !strings.Contains(o.failed, tc.want) || strings.Contains(o.failed, "\n") {
				t.Fatalf("upgrade: %+v; want one line about %q", o, tc.want)
			}
			t.Logf("upgrade failed: %s", o.failed)
			if got := u.pid(); got != pid {
				t.Fatalf("daemon pid %d, want %d still", got, pid)
			}
			if got := pidBehind(t, web.addr); got != instance {
				t.Fatalf("instance %d serves, want %d still", got, instance)
			}
			copyFile(t, binDaemon, u.bin, 0o755)
			e.writeFile("gracevisor.yaml", string(good))
		})
	}
	l.stop()
	l.check(t)
	if apps := runningDemoapps(); len(apps) != 1 {
		t.Fatalf("demoapps %v, want only the old daemon's instance", apps)
	}
}

// TestUpgradeAddressWrittenDifferently: the config of the new daemon
// writes the app's external address as localhost:PORT instead of
// 127.0.0.1:PORT (and back for the next): each new daemon takes over the
// same socket rather than binding the busy port, and no request fails.
func TestUpgradeAddressWrittenDifferently(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "")
	e.writeConfig(web)
	u := e.spawnUpgradable()
	l := startLoad(t, web.addr, 4)
	for i, host := range []string{"localhost", "127.0.0.1"} {
		web.extra = "external_host: " + host
		e.writeConfig(web)
		if o := u.upgrade(); o.result == nil {
			t.Fatalf("upgrade %d (external_host %s): %+v\n%s", i+1, host, o, u.output())
		}
	}
	l.stop()
	l.check(t)
}

// TestUpgradeBySignalHealthAndNotify: SIGUSR2 upgrades as the API does;
// systemd hears READY=1 from the first daemon, MAINPID and READY=1 from the
// new one, STOPPING=1 at shutdown; /healthz answers 200 while serving and
// 503 once the daemon is stopping.
func TestUpgradeBySignalHealthAndNotify(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "--ignore-term") // stops only at stop_timeout: a long "stopping"
	web.extra = "stop_timeout: 3"
	e.writeConfig(web)
	notify, env := testutil.ListenNotify(t, false)
	u := e.spawnUpgradable("NOTIFY_SOCKET=" + env)
	if got := testutil.ReadDatagram(t, notify); got != "READY=1" {
		t.Fatalf("first daemon notified %q", got)
	}
	first := u.pid()
	if code, body, _ := get(e.rpc, api.PathHealth); code != 200 || body != "serving\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	syscall.Kill(first, syscall.SIGUSR2)
	testutil.Eventually(t, 30*time.Second, "a new daemon", func() bool { p := u.pid(); return p != 0 && p != first })
	next := u.pid()
	if got, want := testutil.ReadDatagram(t, notify), fmt.Sprintf("MAINPID=%d\nREADY=1", next); got != want {
		t.Fatalf("new daemon notified %q, want %q", got, want)
	}
	testutil.Eventually(t, 15*time.Second, "the old daemon to exit", func() bool { return !testutil.Alive(first) })
	syscall.Kill(next, syscall.SIGTERM)
	if got := testutil.ReadDatagram(t, notify); got != "STOPPING=1" {
		t.Fatalf("at shutdown: %q", got)
	}
	code, body, err := get(e.rpc, api.PathHealth)
	if err != nil || code != 503 || body != "stopping\n" {
		t.Fatalf("/healthz while stopping: %d %q %v", code, body, err)
	}
}

// binDaemon2 is gracevisord built with another version string, once.
var (
	buildV2    sync.Once
	binDaemon2 string
	buildV2Err error
)

func daemonV2(t *testing.T) string {
	t.Helper()
	buildV2.Do(func() {
		binDaemon2 = filepath.Join(filepath.Dir(binDaemon), "v2", "gracevisord")
		cmd := exec.Command("go", "build", "-ldflags", "-X main.version=e2e-test-2", "-o", binDaemon2,
			"github.com/gracevisor/gracevisor/cmd/gracevisord")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildV2Err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildV2Err != nil {
		t.Fatal(buildV2Err)
	}
	return binDaemon2
}

// TestCtlUpgradeToANewBinary: a binary replaced on disk is the one an
// upgrade starts; gracevisorctl upgrade prints both pids and versions,
// version then shows the new daemon; a second upgrade while one runs is
// refused with exit 1.
func TestCtlUpgradeToANewBinary(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "--start-delay=1500ms") // an upgrade that takes a while
	e.writeConfig(web)
	u := e.spawnUpgradable()
	old := u.pid()
	copyFile(t, daemonV2(t), u.bin, 0o755)

	first := e.ctlAsync("upgrade")
	testutil.Eventually(t, 10*time.Second, "the upgrade to begin", func() bool {
		return u.version().State == api.DaemonUpgrading
	})
	second := e.ctl("upgrade")
	if second.code != 1 || !strings.Contains(second.stderr, "upgrade already in progress") {
		t.Errorf("second upgrade: %s", second)
	}
	r := <-first
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("pid %d (e2e-test)", old)) || !strings.Contains(r.stdout, "(e2e-test-2)") {
		t.Fatalf("upgrade: %s\n%s", r, u.output())
	}
	v := e.mustCtl(0, "version")
	if !strings.Contains(v.stdout, "e2e-test-2") {
		t.Fatalf("version after the upgrade: %s", v)
	}
	testutil.Eventually(t, 15*time.Second, "the old daemon to exit", func() bool { return !testutil.Alive(old) })
}
