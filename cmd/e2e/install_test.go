package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// repoRoot is the checkout's root, from cmd/e2e.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// run runs a command with extra environment and returns its exit code and
// combined output.
func run(t *testing.T, env []string, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s %q: %v", name, args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// TestInitScript drives scripts/init.d/gracevisord against the real
// binaries: start → status → reload (an added app starts) → stop → status,
// and a start with an invalid config, which prints why.
func TestInitScript(t *testing.T) {
	if _, err := exec.LookPath("start-stop-daemon"); err != nil {
		t.Skip("start-stop-daemon (Debian's dpkg) is not installed; the init.d script needs it")
	}
	script := filepath.Join(repoRoot(t), "scripts/init.d/gracevisord")
	e := newEnv(t)
	web := e.newApp("web", "")
	e.writeConfig(web)
	run1 := t.TempDir()
	pidFile := filepath.Join(run1, "gracevisord.pid")
	env := []string{"DAEMON=" + binDaemon, "CTL=" + binCtl, "CONF_DIR=" + e.dir, "PIDFILE=" + pidFile,
		"OUTPUT=" + filepath.Join(run1, "out"), "DEFAULTS=/nonexistent", "STOP_TIMEOUT=30"}
	initd := func(action string) (int, string) { return run(t, env, "sh", script, action) }
	t.Cleanup(func() { // the script's daemon is not in the test's process group
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 && testutil.Alive(pid) {
				initd("stop")
			}
		}
	})

	if code, out := initd("status"); code != 3 || !strings.Contains(out, "not running") {
		t.Errorf("status before start: %d %q", code, out)
	}
	if code, out := initd("start"); code != 0 || !strings.Contains(out, "gracevisord started (pid ") {
		t.Fatalf("start: %d %q", code, out)
	}
	// A second start through another pid file must not take the running
	// daemon's answer for its own.
	other := append(slices.Clone(env), "PIDFILE="+filepath.Join(run1, "other.pid"))
	if code, out := run(t, other, "sh", script, "start"); code != 1 || !strings.Contains(out, "another gracevisord already answers") {
		t.Errorf("start beside a running daemon: %d %q, want 1 and why", code, out)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); exe != binDaemon {
		t.Fatalf("pid file names %d (%s), not gracevisord", pid, exe)
	}
	if code, out := initd("start"); code != 0 || !strings.Contains(out, "already running") {
		t.Errorf("second start: %d %q", code, out)
	}
	if code, out := initd("status"); code != 0 || !strings.Contains(out, "is running (pid "+strconv.Itoa(pid)+")") {
		t.Errorf("status: %d %q", code, out)
	}
	if code, _, err := get(web.addr, "/"); err != nil || code != 200 {
		t.Errorf("app behind the daemon: %d %v", code, err)
	}

	api := e.newApp("api", "")
	e.writeConfig(web, api)
	if code, out := initd("reload"); code != 0 || !strings.Contains(out, "reloading") {
		t.Errorf("reload: %d %q", code, out)
	}
	testutil.Eventually(t, 20*time.Second, "the added app to serve", func() bool {
		code, _, err := get(api.addr, "/")
		return err == nil && code == 200
	})

	// upgrade, under load: the pid file follows the new daemon, nothing fails.
	l := startLoad(t, web.addr, 4)
	if code, out := initd("upgrade"); code != 0 {
		t.Fatalf("upgrade: %d %q", code, out)
	}
	rate := l.stop()
	l.check(t)
	old := pid
	b, _ = os.ReadFile(pidFile)
	pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	if pid == old || !testutil.Alive(pid) {
		t.Fatalf("after upgrade the pid file names %d (was %d)", pid, old)
	}
	if code, out := initd("status"); code != 0 || !strings.Contains(out, "is running (pid "+strconv.Itoa(pid)+")") {
		t.Errorf("status after upgrade: %d %q", code, out)
	}
	testutil.Eventually(t, 15*time.Second, "the old daemon to exit", func() bool { return !testutil.Alive(old) })
	t.Logf("init.d upgrade under load: %d requests at %.0f/s, 0 failed", l.ok.Load(), rate)

	demo := pidBehind(t, web.addr)
	if code, out := initd("stop"); code != 0 || !strings.Contains(out, "gracevisord stopped") {
		t.Errorf("stop: %d %q", code, out)
	}
	if testutil.Alive(pid) || testutil.Alive(demo) {
		t.Errorf("after stop: daemon gone %v, app gone %v", !testutil.Alive(pid), !testutil.Alive(demo))
	}
	if code, out := initd("status"); code != 3 {
		t.Errorf("status after stop: %d %q", code, out)
	}
	if code, out := initd("stop"); code != 0 || !strings.Contains(out, "not running") {
		t.Errorf("stop when stopped: %d %q", code, out)
	}
	if code, out := initd("reload"); code != 7 {
		t.Errorf("reload when stopped: %d %q, want 7", code, out)
	}

	e.writeFile("gracevisor.yaml", "apps:\n  - name: bad\n    command: x\n")
	code, out := initd("start")
	if code != 1 || !strings.Contains(out, "gracevisord failed to start") || !strings.Contains(out, "apps[0].command: {port} appears in neither") {
		t.Errorf("start with a bad config: %d %q", code, out)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after a failed start: %v", err)
	}
}

// TestInitScriptUpgrade checks the init.d upgrade action's side: it runs
// gracevisorctl upgrade --json, puts the new pid into the pid file on
// success, leaves it alone on failure and exits with gracevisorctl's code.
// Here gracevisorctl is a stand-in and the "daemons" are sleep processes
// (the script checks the pid file's process by name); the daemon side is
// tested with the real thing.
func TestInitScriptUpgrade(t *testing.T) {
	script := filepath.Join(repoRoot(t), "scripts/init.d/gracevisord")
	dir := t.TempDir()
	sleeper := func() int {
		cmd := exec.Command("sleep", "600")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd.Process.Pid
	}
	oldPID, newPID := sleeper(), sleeper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	ctl := filepath.Join(dir, "gracevisorctl")
	fake := "#!/bin/sh\necho \"$@\" > " + filepath.Join(dir, "args") + "\n" +
		"printf '%s\\n' \"$FAKE_OUT\"; [ -z \"$FAKE_ERR\" ] || echo \"$FAKE_ERR\" >&2; exit \"${FAKE_RC:-0}\"\n"
	if err := os.WriteFile(ctl, []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "gracevisord.pid")
	env := []string{"DAEMON=" + sleep, "CTL=" + ctl, "CONF_DIR=/etc/gv-test", "PIDFILE=" + pidFile,
		"OUTPUT=" + filepath.Join(dir, "out"), "DEFAULTS=/nonexistent"}
	upgrade := func(extra ...string) (int, string) {
		return run(t, append(slices.Clone(env), extra...), "sh", script, "upgrade")
	}
	pidInFile := func() string { b, _ := os.ReadFile(pidFile); return strings.TrimSpace(string(b)) }

	if code, out := upgrade(); code != 7 || !strings.Contains(out, "not running") {
		t.Errorf("upgrade with no daemon: %d %q, want 7", code, out)
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(oldPID)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Failed: gracevisorctl's error and exit code; the pid file still names the old daemon.
	code, out := upgrade("FAKE_RC=1", `FAKE_OUT={"error": "upgrade failed: boom"}`, "FAKE_ERR=gracevisorctl: upgrade failed: boom")
	if code != 1 || !strings.Contains(out, "gracevisorctl: upgrade failed: boom") || pidInFile() != strconv.Itoa(oldPID) {
		t.Errorf("failed upgrade: %d %q, pid file %q", code, out, pidInFile())
	}
	if args, _ := os.ReadFile(filepath.Join(dir, "args")); string(args) != "--conf /etc/gv-test upgrade --json\n" {
		t.Errorf("gracevisorctl called with %q", args)
	}
	// Done: the new pid in the pid file, and status names it.
	result := `FAKE_OUT={
  "old_pid": ` + strconv.Itoa(oldPID) + `,
  "new_pid": ` + strconv.Itoa(newPID) + `,
  "old_version": "v1",
  "new_version": "v2",
  "duration_ms": 1912.4
}`
	code, out = upgrade(result)
	want := "gracevisord upgraded: pid " + strconv.Itoa(oldPID) + " -> pid " + strconv.Itoa(newPID)
	if code != 0 || !strings.Contains(out, want) || pidInFile() != strconv.Itoa(newPID) {
		t.Errorf("upgrade: %d %q, pid file %q; want 0, %q and pid %d", code, out, pidInFile(), want, newPID)
	}
	if code, out := run(t, env, "sh", script, "status"); code != 0 || !strings.Contains(out, "is running (pid "+strconv.Itoa(newPID)+")") {
		t.Errorf("status after upgrade: %d %q", code, out)
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit as make
// install writes it (ExecStart pointing at a real binary), and checks that
// the check can fail.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd); .ci/run installs it")
	}
	unit, err := os.ReadFile(filepath.Join(repoRoot(t), "scripts/systemd/gracevisord.service"))
	if err != nil {
		t.Fatal(err)
	}
	installed := strings.ReplaceAll(string(unit), "/usr/local/bin/gracevisord", binDaemon)
	verify := func(text string) (int, string) {
		path := filepath.Join(t.TempDir(), "gracevisord.service")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return run(t, []string{"SYSTEMD_LOG_COLOR=0"}, analyze, "verify", path)
	}
	code, out := verify(installed)
	if code != 0 || strings.TrimSpace(out) != "" {
		if strings.Contains(out, "Failed to initialize") || strings.Contains(out, "Operation not permitted") {
			t.Skipf("systemd-analyze cannot run here: %s", out)
		}
		t.Errorf("systemd-analyze verify: exit %d:\n%s", code, out)
	}
	for _, want := range []string{"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed", "LimitNOFILE="} {
		if !strings.Contains(installed, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	// The check catches a typo (a warning, exit 0) and a missing binary (exit 1).
	if code, out := verify(strings.Replace(installed, "KillMode=mixed", "KillMode=mixd", 1)); code == 0 && !strings.Contains(out, "mixd") {
		t.Errorf("a typo passed verify: %d %q", code, out)
	}
	if code, _ := verify(strings.ReplaceAll(installed, binDaemon, "/nonexistent/gracevisord")); code == 0 {
		t.Errorf("a missing binary passed verify")
	}
}

// TestMakeInstall installs into a temp DESTDIR with a PREFIX and checks
// every file, then that a second install keeps an edited config.
func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	dest := t.TempDir()
	install := func() {
		t.Helper()
		// BIN: the binaries this test run built; -o build: do not rebuild them.
		code, out := run(t, nil, "make", "-C", repoRoot(t), "-o", "build", "install",
			"DESTDIR="+dest, "PREFIX=/opt/gv", "BIN="+filepath.Dir(binDaemon))
		if code != 0 {
			t.Fatalf("make install: exit %d:\n%s", code, out)
		}
	}
	install()
	for path, mode := range map[string]os.FileMode{
		"opt/gv/bin/gracevisord":                 0o755,
		"opt/gv/bin/gracevisorctl":               0o755,
		"etc/gracevisor/gracevisor.yaml":         0o644,
		"lib/systemd/system/gracevisord.service": 0o644,
		"etc/init.d/gracevisord":                 0o755,
	} {
		fi, err := os.Stat(filepath.Join(dest, path))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %v; want %v", path, err, fi.Mode(), mode)
		}
	}
	for _, dir := range []string{"etc/gracevisor/conf.d", "var/log/gracevisor"} {
		if fi, err := os.Stat(filepath.Join(dest, dir)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", dir, err)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(dest, "lib/systemd/system/gracevisord.service"))
	initd, _ := os.ReadFile(filepath.Join(dest, "etc/init.d/gracevisord"))
	if !strings.Contains(string(unit), "ExecStart=/opt/gv/bin/gracevisord --conf /etc/gracevisor") ||
		!strings.Contains(string(initd), "DAEMON=${DAEMON:-/opt/gv/bin/gracevisord}") ||
		strings.Contains(string(unit)+string(initd), "/usr/local/bin") {
		t.Errorf("PREFIX not applied:\n%s\n%s", unit, initd)
	}
	if code, out := run(t, nil, filepath.Join(dest, "opt/gv/bin/gracevisord"), "--version"); code != 0 || !strings.Contains(out, "e2e-test") {
		t.Errorf("installed gracevisord --version: %d %q", code, out)
	}

	conf := filepath.Join(dest, "etc/gracevisor/gracevisor.yaml")
	if err := os.WriteFile(conf, []byte("apps: [] # mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	install()
	if b, _ := os.ReadFile(conf); string(b) != "apps: [] # mine\n" {
		t.Errorf("a second install overwrote the config: %q", b)
	}
}
