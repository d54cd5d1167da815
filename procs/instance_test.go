package procs

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/ports"
)

// startTestInstance starts app's instance and makes sure it is gone at cleanup.
func startTestInstance(t *testing.T, d *deps, pool *ports.Allocator, app *config.App) *instance {
	t.Helper()
	in, err := startInstance(d, pool, app, 0)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(in.kill)
	return in
}

func waitTestReady(t *testing.T, in *instance) {
	t.Helper()
	p := newProber(in.cfg.InternalHost, in.port, in.cfg.Healthcheck, time.Second)
	if _, err := waitReady(context.Background(), p.probeAddr, in.exited, 10*time.Second, readyPollInterval); err != nil {
		t.Fatalf("ready: %v", err)
	}
}

func TestInstanceLifecycle(t *testing.T) {
	d, alloc := testDeps(t), testPorts()
	app := testApp(t, "life", modeHTTP, "EXTRA=port-{port}")
	in := startTestInstance(t, d, alloc, &app)
	waitTestReady(t, in)

	base := "http://127.0.0.1:" + strconv.Itoa(in.port)
	for k, want := range map[string]string{
		"":                strconv.Itoa(in.pid),
		"GRACEVISOR_APP":  "life",
		"GRACEVISOR_PORT": strconv.Itoa(in.port),
		"EXTRA":           "port-" + strconv.Itoa(in.port),
	} {
		got, err := get(noKeepAlive, base+"/env?k="+k)
		if k == "" {
			got, err = get(noKeepAlive, base+"/")
		}
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", k, got, err, want)
		}
	}
	if got := groupMembers(t, in.pid); len(got) != 1 || got[0] != in.pid {
		t.Errorf("process group %d = %v, want only the instance", in.pid, got)
	}

	in.stop(context.Background(), syscall.SIGTERM, 5*time.Second)
	if !in.hasExited() || in.exitErr != nil {
		t.Fatalf("after stop: exited %v, exit %v", in.hasExited(), in.exitErr)
	}
	if alloc.Held() != 0 {
		t.Errorf("port still held after exit")
	}
	out := readFile(t, app.Stdout.Path)
	if !strings.HasPrefix(out, "listening on 127.0.0.1:"+strconv.Itoa(in.port)) || !strings.HasSuffix(out, "\nbye\n") {
		t.Errorf("stdout log = %q; want the listening line and the unterminated last line", out)
	}
	if got := readFile(t, app.Stderr.Path); got != "stderr line\n" {
		t.Errorf("stderr log = %q", got)
	}
}

func TestInstanceCrashAtStart(t *testing.T) {
	d, alloc := testDeps(t), testPorts()
	app := testApp(t, "crash", modeCrash)
	in := startTestInstance(t, d, alloc, &app)
	p := newProber(app.InternalHost, in.port, app.Healthcheck, time.Second)
	_, err := waitReady(context.Background(), p.probeAddr, in.exited, 10*time.Second, readyPollInterval)
	if !errors.Is(err, errExitedEarly) {
		t.Fatalf("waitReady = %v, want errExitedEarly", err)
	}
	<-in.exited
	if got := in.exitError().Error(); got != "exit status 3" {
		t.Errorf("exit = %q", got)
	}
	if got := readFile(t, app.Stderr.Path); got != "boom\n" {
		t.Errorf("stderr log = %q", got)
	}
}

func TestInstanceStartTimeout(t *testing.T) {
	d, alloc := testDeps(t), testPorts()
	app := testApp(t, "slow", modeNeverReady)
	in := startTestInstance(t, d, alloc, &app)
	p := newProber(app.InternalHost, in.port, "", time.Second)
	begin := time.Now()
	_, err := waitReady(context.Background(), p.probeAddr, in.exited, 300*time.Millisecond, readyPollInterval)
	if !errors.Is(err, errStartTimeout) {
		t.Fatalf("waitReady = %v, want errStartTimeout", err)
	}
	if el := time.Since(begin); el < 300*time.Millisecond || el > 3*time.Second {
		t.Errorf("gave up after %s, want about 300ms", el)
	}
}

func TestInstanceIgnoringTermIsKilledWithChild(t *testing.T) {
	d, alloc := testDeps(t), testPorts()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	app := testApp(t, "stubborn", modeHTTP, envIgnoreTerm+"=1", envChildPIDFile+"="+pidFile)
	in := startTestInstance(t, d, alloc, &app)
	waitTestReady(t, in)
	child, err := strconv.Atoi(readFile(t, pidFile))
	if err != nil || !testutil.Alive(child) {
		t.Fatalf("child pid %q: %v", readFile(t, pidFile), err)
	}

	begin := time.Now()
	in.stop(context.Background(), syscall.SIGTERM, 300*time.Millisecond)
	if el := time.Since(begin); el < 300*time.Millisecond {
		t.Errorf("stopped after %s although SIGTERM is ignored", el)
	}
	if got := in.exitError().Error(); got != "signal: killed" {
		t.Errorf("exit = %q, want signal: killed", got)
	}
	testutil.Eventually(t, 5*time.Second, "the child to die", func() bool { return !testutil.Alive(child) })
	if m := groupMembers(t, in.pid); len(m) != 0 {
		t.Errorf("process group %d still has %v", in.pid, m)
	}
}

func TestInstanceExitKillsLeftoverGroup(t *testing.T) {
	d, alloc := testDeps(t), testPorts()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	app := testApp(t, "parent", modeHTTP, envChildPIDFile+"="+pidFile)
	in := startTestInstance(t, d, alloc, &app)
	waitTestReady(t, in)
	child, _ := strconv.Atoi(readFile(t, pidFile))
	// The instance exits on SIGTERM at once; its TERM-ignoring child must not survive it.
	in.stop(context.Background(), syscall.SIGTERM, 10*time.Second)
	testutil.Eventually(t, 5*time.Second, "the orphan to die", func() bool { return !testutil.Alive(child) })
}

func TestInstanceRunsAsNobody(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to switch users")
	}
	nobody, err := lookupUser("nobody")
	if err != nil {
		t.Skip(err)
	}
	d, alloc := testDeps(t), testPorts()
	app := testApp(t, "nobody", modeHTTP)
	app.User = "nobody"
	app.Command = "'" + copyTestBinary(t) + "' --port={port}"
	app.Directory = filepath.Dir(strings.Trim(strings.Fields(app.Command)[0], "'"))
	in := startTestInstance(t, d, alloc, &app)
	waitTestReady(t, in)

	status := readFile(t, "/proc/"+strconv.Itoa(in.pid)+"/status")
	uid, gid := strconv.Itoa(int(nobody.uid)), strconv.Itoa(int(nobody.gid))
	wantLines := []string{
		"Uid:\t" + strings.Repeat(uid+"\t", 3) + uid,
		"Gid:\t" + strings.Repeat(gid+"\t", 3) + gid,
		"Groups:\t" + joinIDs(nobody.groups),
	}
	for _, want := range wantLines {
		if !hasLine(status, want) {
			t.Errorf("/proc/%d/status lacks %q:\n%s", in.pid, want, status)
		}
	}
	base := "http://127.0.0.1:" + strconv.Itoa(in.port) + "/env?k="
	for k, want := range map[string]string{"USER": "nobody", "LOGNAME": "nobody", "HOME": nobody.home} {
		if got, err := get(noKeepAlive, base+k); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", k, got, err, want)
		}
	}
	u, _ := user.Current()
	t.Logf("daemon runs as %s; instance as nobody (%s)", u.Username, strings.TrimSpace(wantLines[0]))
}

// copyTestBinary copies the test binary into a fresh 0755 directory, so a
// user other than root can execute it.
func copyTestBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gracevisor-procs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(testutil.Executable(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "app.test")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func joinIDs(ids []uint32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, " ")
}

func hasLine(text, line string) bool {
	for l := range strings.Lines(text) {
		if strings.TrimRight(l, " \n") == line {
			return true
		}
	}
	return false
}

func TestLogRotationKeepsMaxBackups(t *testing.T) {
	d, alloc := testDeps(t), testPorts()
	app := testApp(t, "spew", modeHTTP, envSpewBytes+"="+strconv.Itoa(4<<20+300<<10))
	app.Stdout.Rotation = config.Rotation{MaxSizeMB: 1, MaxBackups: 2}
	in := startTestInstance(t, d, alloc, &app)
	waitTestReady(t, in)
	in.stop(context.Background(), syscall.SIGTERM, 5*time.Second)

	dir := filepath.Dir(app.Stdout.Path)
	var backups []string
	testutil.Eventually(t, 5*time.Second, "lumberjack to remove old backups", func() bool {
		backups, _ = filepath.Glob(filepath.Join(dir, "app_spew-*.out"))
		return len(backups) == 2
	})
	lines := 0
	for _, f := range append(backups, app.Stdout.Path) {
		for l := range strings.Lines(readFile(t, f)) {
			lines++
			if len(l) != 100 && !strings.HasPrefix(l, "listening on") && l != "bye\n" {
				t.Fatalf("%s: broken line %q", f, l)
			}
		}
	}
	// 4.3 MB in 1 MB files: the newest ~2.3 MB are kept, in whole lines.
	if lines < 20000 || lines > 35000 {
		t.Errorf("%d lines kept, want the newest ~23000", lines)
	}
}

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
		err  string
	}{
		// quoting as a shell would do it
		{line: `./app --port=10000`, want: []string{"./app", "--port=10000"}},
		{line: `app "two words" 'single $X' a\ b`, want: []string{"app", "two words", "single $X", "a b"}},
		{line: `  app   -v  `, want: []string{"app", "-v"}},
		// failures
		{line: ``, err: "empty"},
		{line: `app $HOME`, err: "$HOME: no shell runs the command"},
		{line: `app <(echo)`, err: "process substitution: no shell runs the command"},
		{line: `app "unterminated`, err: "parse command"},
	} {
		got, err := splitCommand(tc.line)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	got := dedupEnv([]string{"A=1", "B=2", "A=3", "C", "B=4"})
	if strings.Join(got, " ") != "A=3 B=4 C" {
		t.Errorf("dedupEnv = %q", got)
	}
}

func TestStartFailures(t *testing.T) {
	d := testDeps(t)
	app := testApp(t, "bad", modeHTTP)
	app.Command = "/nonexistent/binary --port={port}"
	if _, err := startInstance(d, testPorts(), &app, 0); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing binary: %v", err)
	}
	app = testApp(t, "full", modeHTTP)
	if _, err := startInstance(d, ports.New(1, 1), &app, 0); !errors.Is(err, ports.ErrExhausted) {
		t.Errorf("empty port range: %v", err)
	}
	app.User = "no-such-user-here"
	if _, err := startInstance(d, testPorts(), &app, 0); err == nil || !strings.Contains(err.Error(), "no-such-user-here") {
		t.Errorf("unknown user: %v", err)
	}
}
