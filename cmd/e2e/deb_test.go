package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// What the package installs, and where the maintainer scripts look.
const (
	debConf    = "/etc/gracevisor"
	debLogs    = "/var/log/gracevisor"
	debDaemon  = "/usr/bin/gracevisord"
	debCtl     = "/usr/bin/gracevisorctl"
	debPIDFile = "/run/gracevisord.pid"
	debPolicy  = "/usr/sbin/policy-rc.d"
)

// TestDebPackage builds two packages with `make deb` and installs them into
// the real system: dpkg -i the first (the daemon starts through the init.d
// script, as systemd is not PID 1 here), an app in conf.d serves; dpkg -i
// the second under continuous load (no request may fail, the new version
// serves); dpkg -r stops everything; dpkg -P removes the config. The
// systemd side of the maintainer scripts is checked with
// systemd-analyze verify and by running the scripts with /run/systemd/system
// faked and the tools they call stubbed (debMaintainerScripts).
func TestDebPackage(t *testing.T) {
	debRefuse(t)
	began := time.Now()
	step := func(what string) { t.Logf("%v: %s", time.Since(began).Round(time.Millisecond), what) }
	dist := t.TempDir()
	var deb1, deb2 string
	var wg sync.WaitGroup
	wg.Go(func() { deb1 = makeDeb(t, "1.0.0", dist) })
	wg.Go(func() { deb2 = makeDeb(t, "1.0.1", dist) })
	wg.Wait()
	if deb1 == "" || deb2 == "" {
		t.FailNow()
	}
	step("make deb, twice")
	lint := startLintian(t, deb1)

	// The app's binary at a path of its own, which outlives no test.
	demo := filepath.Join(t.TempDir(), "demoapp")
	copyFile(t, binDemo, demo, 0o755)
	t.Cleanup(func() { debCleanup(t, demo) })

	code, out := debDpkg(t, "-i", deb1)
	if code != 0 {
		t.Fatalf("dpkg -i %s: exit %d:\n%s", deb1, code, out)
	}
	step("dpkg -i 1.0.0:\n" + out)
	pid1 := debDaemonPID(t)
	if v := debCtlRun(t, "version"); !strings.Contains(v, "gracevisord   1.0.0 ") {
		t.Fatalf("gracevisorctl version after installing 1.0.0:\n%s", v)
	}
	debCheckToken(t)
	debCheckFiles(t)

	// An app in conf.d, added with update, serves.
	web := app{name: "web", addr: testutil.FreeAddr(t)}
	yaml := strings.ReplaceAll(web.fileYAML(), binDemo, demo) + "\n"
	if err := os.WriteFile(filepath.Join(debConf, "conf.d/web.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := debCtlRun(t, "update"); !strings.Contains(out, "web") {
		t.Fatalf("gracevisorctl update: %s", out)
	}
	testutil.Eventually(t, 20*time.Second, "the app in conf.d to serve", func() bool {
		code, _, err := get(web.addr, "/")
		return err == nil && code == 200
	})
	if out := debCtlRun(t, "status"); !strings.Contains(out, "RUNNING") {
		t.Errorf("gracevisorctl status as root:\n%s", out)
	}

	step("the app in conf.d serves")
	debMaintainerScripts(t, deb2)
	step("maintainer scripts with stubs")

	// The package upgrade, under load: new connections all the time.
	l := startLoad(t, web.addr, 4)
	time.Sleep(time.Second)
	code, out = debDpkg(t, "-i", deb2)
	time.Sleep(time.Second)
	rate := l.stop()
	ok, failed := l.ok.Load(), l.fail.Load()
	t.Logf("dpkg -i 1.0.1 under load: %d requests (%.0f/s), %d failed:\n%s", ok+failed, rate, failed, out)
	if code != 0 {
		t.Fatalf("dpkg -i %s: exit %d:\n%s", deb2, code, out)
	}
	l.check(t)
	if ok < 100 {
		t.Errorf("only %d requests during the upgrade", ok)
	}
	pid2 := debDaemonPID(t)
	if want := fmt.Sprintf("gracevisord upgraded: pid %d -> pid %d", pid1, pid2); pid2 == pid1 || !strings.Contains(out, want) {
		t.Errorf("upgrade: daemon pid %d -> %d; dpkg said:\n%s", pid1, pid2, out)
	}
	if v := debCtlRun(t, "version"); !strings.Contains(v, "gracevisord   1.0.1 ") || !strings.Contains(v, "gracevisorctl 1.0.1 ") {
		t.Errorf("gracevisorctl version after the upgrade:\n%s", v)
	}
	testutil.Eventually(t, 20*time.Second, "the old daemon to drain and exit", func() bool { return !testutil.Alive(pid1) })
	step("upgraded")

	code, out = debDpkg(t, "-r", "gracevisor")
	if code != 0 {
		t.Fatalf("dpkg -r: exit %d:\n%s", code, out)
	}
	testutil.Eventually(t, 20*time.Second, "no daemon and no app left", func() bool {
		return len(debProcesses(demo)) == 0
	})
	if testutil.Alive(pid2) || !testutil.Refused(web.addr) {
		t.Errorf("after dpkg -r: daemon %d alive %v, %s refused %v", pid2, testutil.Alive(pid2), web.addr, testutil.Refused(web.addr))
	}
	if _, err := os.Stat(filepath.Join(debConf, "gracevisor.yaml")); err != nil {
		t.Errorf("dpkg -r removed the config: %v", err)
	}
	step("removed")

	code, out = debDpkg(t, "-P", "gracevisor")
	if code != 0 {
		t.Fatalf("dpkg -P: exit %d:\n%s", code, out)
	}
	for _, path := range []string{debConf, debLogs, "/etc/init.d/gracevisord", debDaemon,
		"/etc/systemd/system/multi-user.target.wants/gracevisord.service"} {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("after dpkg -P, %s: %v", path, err)
		}
	}
	if links, _ := filepath.Glob("/etc/rc?.d/[SK][0-9][0-9]gracevisord"); len(links) != 0 {
		t.Errorf("after dpkg -P: %v", links)
	}
	step("purged")
	lint.check(t)
}

// debRefuse skips the test unless it may install packages into this
// machine, and refuses (skips, or fails in CI) when that could break
// something there: a gracevisor already installed or running, systemd
// running (the scripts would start a real unit), port 9001 taken.
func debRefuse(t *testing.T) {
	t.Helper()
	if os.Getenv("CI") != "true" && os.Getenv("GRACEVISOR_DEB_TEST") != "1" {
		t.Skip("installs a package into this system: runs with CI=true or GRACEVISOR_DEB_TEST=1")
	}
	refuse := t.Skipf
	if os.Getenv("CI") == "true" {
		refuse = t.Fatalf
	}
	if os.Geteuid() != 0 {
		refuse("dpkg -i needs root")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "make", "invoke-rc.d", "start-stop-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			refuse("%s is not installed", tool)
		}
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		refuse("systemd runs here: the package would start a real gracevisord.service")
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Status}", "gracevisor").Output(); err == nil && string(out) != "not-installed" {
		refuse("a gracevisor package is installed (%s): this test would replace it", out)
	}
	for _, path := range []string{debConf, debLogs, debDaemon, debCtl, "/etc/init.d/gracevisord", debPIDFile} {
		if _, err := os.Lstat(path); err == nil {
			refuse("%s exists (make install?): this test would overwrite it", path)
		}
	}
	if !testutil.PortFree(9001) {
		refuse("port 9001, the default config's control API, is taken")
	}
}

// makeDeb runs make deb for this machine's architecture and returns the
// package's path, or "" after reporting why there is none (it may run in a
// goroutine of its own).
// Its go build may compile everything (a cold cache in CI): up to 10 minutes.
func makeDeb(t *testing.T, version, dist string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "make", "-s", "-C", repoRoot(t), "deb", "VERSION="+version,
		"DEB_ARCHES="+runtime.GOARCH, "DEB_COMPRESS=gzip", "DIST="+dist, "BIN="+t.TempDir()).CombinedOutput()
	want := filepath.Join(dist, "gracevisor_"+version+"_"+runtime.GOARCH+".deb")
	if _, serr := os.Stat(want); err != nil || serr != nil {
		t.Errorf("make deb VERSION=%s: %v, %v:\n%s", version, err, serr, out)
		return ""
	}
	return want
}

// debDpkg runs dpkg. Where a policy-rc.d forbids starting services (as in
// containers), it runs in a mount namespace of its own where policy-rc.d
// allows everything, so the maintainer scripts' invoke-rc.d calls run; the
// rest of the system sees no change.
func debDpkg(t *testing.T, args ...string) (int, string) {
	t.Helper()
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	if _, err := os.Stat(debPolicy); err != nil {
		return run(t, env, "dpkg", args...)
	}
	allow := filepath.Join(t.TempDir(), "policy-rc.d")
	if err := os.WriteFile(allow, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := `mount --bind "$1" ` + debPolicy + ` && shift && exec dpkg "$@"`
	return run(t, env, "unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", allow}, args...)...)
}

// debCtlRun runs the installed gracevisorctl as root, as an operator would
// (no flags: the default config and its token), and fails on an error.
func debCtlRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out := run(t, nil, debCtl, args...)
	if code != 0 {
		t.Fatalf("gracevisorctl %v: exit %d:\n%s", args, code, out)
	}
	return out
}

// debDaemonPID is the pid in the init script's pid file; it must be the
// installed gracevisord.
func debDaemonPID(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(debPIDFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil || exe != debDaemon {
		t.Fatalf("pid file %s: %q %v names %q, not %s", debPIDFile, b, err, exe, debDaemon)
	}
	return pid
}

// debCheckToken: the postinst made a root-only token, the config names it,
// and the API refuses requests without it.
func debCheckToken(t *testing.T) {
	t.Helper()
	token := filepath.Join(debConf, "token")
	fi, err := os.Stat(token)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token %s: %v, mode %v; want 0600", token, err, fi.Mode())
	}
	if b, _ := os.ReadFile(token); !regexp.MustCompile(`^[0-9a-f]{64}\n$`).Match(b) {
		t.Errorf("token %q: want 64 hex digits", b)
	}
	if conf, _ := os.ReadFile(filepath.Join(debConf, "gracevisor.yaml")); !strings.Contains(string(conf), "token_file: "+token) {
		t.Errorf("the default config does not name the token:\n%s", conf)
	}
	resp, err := oneShot.Get("http://localhost:9001/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/status without the token: %d, want 401", resp.StatusCode)
	}
}

// debCheckFiles: what dpkg says the package holds, the init script links,
// the unit (systemd-analyze verify, with the installed binary), and a man
// page that names every gracevisorctl command.
func debCheckFiles(t *testing.T) {
	t.Helper()
	code, list := run(t, nil, "dpkg", "-L", "gracevisor")
	for _, want := range []string{debDaemon, debCtl, "/lib/systemd/system/gracevisord.service", "/etc/init.d/gracevisord",
		"/etc/gracevisor/gracevisor.yaml", "/etc/gracevisor/conf.d", debLogs, "/usr/share/doc/gracevisor/copyright",
		"/usr/share/man/man8/gracevisord.8.gz", "/usr/share/man/man1/gracevisorctl.1.gz"} {
		if code != 0 || !slices.Contains(strings.Split(list, "\n"), want) {
			t.Errorf("dpkg -L gracevisor lacks %s", want)
		}
	}
	if _, conffiles := run(t, nil, "dpkg-query", "-W", "-f=${Conffiles}", "gracevisor"); !strings.Contains(conffiles, "/etc/gracevisor/gracevisor.yaml ") {
		t.Errorf("the config is not a conffile: %q", conffiles)
	}
	if links, _ := filepath.Glob("/etc/rc2.d/S[0-9][0-9]gracevisord"); len(links) != 1 {
		t.Errorf("update-rc.d defaults: rc2.d links %v", links)
	}
	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		if code, out := run(t, []string{"SYSTEMD_LOG_COLOR=0"}, analyze, "verify", "/lib/systemd/system/gracevisord.service"); code != 0 || strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify of the packaged unit: exit %d:\n%s", code, out)
		}
	} else if os.Getenv("CI") == "true" {
		t.Error("systemd-analyze is not installed (.ci/run installs it)")
	}
	_, help := run(t, nil, debCtl, "--help")
	_, man := run(t, nil, "sh", "-c", "zcat /usr/share/man/man1/gracevisorctl.1.gz")
	checkManPage(t, help, man)
}

// checkManPage fails for every command the ctl's help lists that the man
// page has no entry for.
func checkManPage(t *testing.T, help, man string) {
	t.Helper()
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z]+) `).FindAllStringSubmatch(help, -1) {
		if m[1] != "help" && !regexp.MustCompile(`(?m)^\.B[IR]? .*\b`+m[1]+`\b`).MatchString(man) {
			t.Errorf("the gracevisorctl man page lacks the command %s", m[1])
		}
	}
}

// TestManPageListsEveryCommand: the man page in scripts/deb has an entry
// for every command gracevisorctl --help lists (the package test checks the
// installed copy too, but only as root in CI).
func TestManPageListsEveryCommand(t *testing.T) {
	out, err := exec.Command(binCtl, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("gracevisorctl --help: %v: %s", err, out)
	}
	man, err := os.ReadFile(filepath.Join(repoRoot(t), "scripts/deb/gracevisorctl.1"))
	if err != nil {
		t.Fatal(err)
	}
	checkManPage(t, string(out), string(man))
}

// debProcesses lists the installed daemons (the binary may be deleted by
// now) and the test's apps that still run.
func debProcesses(demo string) []int {
	return pidsWhere(func(cmdline string) bool {
		return strings.HasPrefix(cmdline, debDaemon+"\x00") || strings.HasPrefix(cmdline, demo+"\x00")
	})
}

// debCleanup purges the package whatever state the test left it in, and
// removes what it may have left behind (nothing of it existed before:
// debRefuse checked).
func debCleanup(t *testing.T, demo string) {
	if out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Status}", "gracevisor").Output(); err == nil && string(out) != "not-installed" {
		if code, out := debDpkg(t, "-P", "gracevisor"); code != 0 {
			t.Errorf("cleanup: dpkg -P gracevisor: exit %d:\n%s", code, out)
		}
	}
	for _, pid := range debProcesses(demo) {
		t.Errorf("cleanup: killing %d, left running", pid)
		exec.Command("kill", "-KILL", strconv.Itoa(pid)).Run()
	}
	os.RemoveAll(debConf)
	os.RemoveAll(debLogs)
	os.Remove(debPIDFile)
	os.Remove("/run/gracevisord.out")
}

// lintianRun is lintian checking a package while the test goes on.
type lintianRun struct {
	done chan struct{}
	code int
	out  string
	skip string
}

// startLintian runs lintian on deb in the background; check waits for it
// and fails the test on any error lintian reports.
func startLintian(t *testing.T, deb string) *lintianRun {
	l := &lintianRun{done: make(chan struct{})}
	path, err := exec.LookPath("lintian")
	if err != nil {
		l.skip = "lintian is not installed (.ci/run installs it)"
		close(l.done)
		return l
	}
	cmd := exec.Command(path, "--fail-on", "error", deb)
	go func() {
		defer close(l.done)
		b, err := cmd.CombinedOutput()
		l.out = string(b)
		if err != nil {
			l.code = -1
			if ee, ok := err.(*exec.ExitError); ok {
				l.code = ee.ExitCode()
			}
		}
	}()
	t.Cleanup(func() {
		if !testutil.Closed(l.done) && cmd.Process != nil {
			cmd.Process.Kill()
		}
		<-l.done
	})
	return l
}

func (l *lintianRun) check(t *testing.T) {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(3 * time.Minute):
		t.Fatal("lintian did not finish within 3 minutes")
	}
	switch {
	case l.skip != "" && os.Getenv("CI") == "true":
		t.Error(l.skip)
	case l.skip != "":
		t.Log(l.skip)
	case l.code != 0 || strings.Contains(l.out, "\nE: ") || strings.HasPrefix(l.out, "E: "):
		t.Errorf("lintian: exit %d:\n%s", l.code, l.out)
	default:
		t.Logf("lintian: no errors:\n%s", l.out)
	}
}

// debMaintainerScripts runs the package's postinst, prerm and postrm with
// every tool they call stubbed (each call is logged), and checks the calls:
// with /run/systemd/system faked (a tmpfs /run in a mount namespace of its
// own) for the systemd path, and without for the init.d path's fallbacks,
// which the real install cannot reach (a daemon too old to upgrade). The
// package's daemon keeps running meanwhile: nothing real is called, and the
// token exists, so postinst writes nothing.
func debMaintainerScripts(t *testing.T, deb string) {
	t.Helper()
	control := t.TempDir()
	if code, out := run(t, nil, "dpkg-deb", "-e", deb, control); code != 0 {
		t.Fatalf("dpkg-deb -e: %s", out)
	}
	stubs := t.TempDir()
	log := filepath.Join(stubs, "calls")
	stub := "#!/bin/sh\necho \"${0##*/} $*\" >> \"$STUB_LOG\"\n" +
		"case \"$*\" in *upgrade*) [ -z \"$STUB_OUT\" ] || echo \"$STUB_OUT\" >&2; exit \"${STUB_RC:-0}\" ;; esac\n"
	for _, name := range []string{"systemctl", "deb-systemd-helper", "deb-systemd-invoke", "update-rc.d", "invoke-rc.d", "gracevisorctl", "rm"} {
		if err := os.WriteFile(filepath.Join(stubs, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// script runs a maintainer script and returns its exit code, output and
	// the calls it made.
	script := func(systemd bool, stubRC int, stubOut string, args ...string) (int, string, []string) {
		t.Helper()
		os.Remove(log)
		fake := `mount -t tmpfs tmpfs /run && `
		if systemd {
			fake += `mkdir -p /run/systemd/system && `
		}
		env := []string{"PATH=" + stubs + ":" + os.Getenv("PATH"), "STUB_LOG=" + log,
			"STUB_RC=" + strconv.Itoa(stubRC), "STUB_OUT=" + stubOut}
		code, out := run(t, env, "unshare", append([]string{"--mount", "--propagation", "private",
			"sh", "-c", fake + `exec "$@"`, "sh", filepath.Join(control, args[0])}, args[1:]...)...)
		if strings.Contains(out, "unshare: ") {
			t.Skipf("cannot make a mount namespace here: %s", out)
		}
		b, _ := os.ReadFile(log)
		return code, out, strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	const (
		enable   = "deb-systemd-helper unmask gracevisord.service|deb-systemd-helper --quiet was-enabled gracevisord.service|deb-systemd-helper enable gracevisord.service|update-rc.d gracevisord defaults"
		reloadSd = "|systemctl --system daemon-reload"
		ctlUp    = "|gracevisorctl --conf /etc/gracevisor upgrade"
		initUp   = "|invoke-rc.d gracevisord upgrade"
		tooOld   = "gracevisorctl: upgrade: not found: POST /api/v1/upgrade (is gracevisord older than upgrades? stop and start it instead)"
	)
	for _, c := range []struct {
		name    string
		systemd bool
		rc      int    // the stubbed upgrade's exit code
		out     string // and its stderr
		args    []string
		code    int
		calls   string // what the script ran, |-separated
		says    string
	}{
		{"systemd install", true, 0, "", []string{"postinst", "configure", ""}, 0,
			enable + reloadSd + "|deb-systemd-invoke start gracevisord.service", ""},
		{"systemd upgrade", true, 0, "", []string{"postinst", "configure", "1.0.0"}, 0,
			enable + reloadSd + ctlUp, ""},
		{"systemd upgrade, not running", true, 5, "gracevisorctl: unreachable", []string{"postinst", "configure", "1.0.0"}, 0,
			enable + reloadSd + ctlUp + "|deb-systemd-invoke start gracevisord.service", ""},
		{"systemd upgrade of a daemon from before upgrades", true, 1, tooOld, []string{"postinst", "configure", "1.0.0"}, 0,
			enable + reloadSd + ctlUp + "|deb-systemd-invoke restart gracevisord.service", "too old to upgrade itself; restarting it"},
		{"systemd upgrade fails", true, 1, "gracevisorctl: upgrade failed: boom", []string{"postinst", "configure", "1.0.0"}, 1,
			enable + reloadSd + ctlUp, "still serves with its old binary"},
		{"systemd prerm upgrade", true, 0, "", []string{"prerm", "upgrade", "1.0.1"}, 0, "", ""},
		{"systemd prerm remove", true, 0, "", []string{"prerm", "remove"}, 0, "deb-systemd-invoke stop gracevisord.service", ""},
		{"systemd postrm remove", true, 0, "", []string{"postrm", "remove"}, 0,
			"rm -f /run/gracevisord.pid /run/gracevisord.out|systemctl --system daemon-reload|deb-systemd-helper mask gracevisord.service", ""},
		{"systemd postrm purge", true, 0, "", []string{"postrm", "purge"}, 0,
			"update-rc.d gracevisord remove|deb-systemd-helper purge gracevisord.service|deb-systemd-helper unmask gracevisord.service|rm -rf /etc/gracevisor /var/log/gracevisor", ""},
		{"init.d upgrade of a daemon from before upgrades", false, 1, tooOld, []string{"postinst", "configure", "1.0.0"}, 0,
			enable + initUp + "|invoke-rc.d gracevisord restart", "too old to upgrade itself; restarting it"},
		{"init.d upgrade, not running", false, 7, "", []string{"postinst", "configure", "1.0.0"}, 0,
			enable + initUp + "|invoke-rc.d gracevisord start", ""},
		{"init.d upgrade fails", false, 1, "gracevisorctl: upgrade failed: boom", []string{"postinst", "configure", "1.0.0"}, 1,
			enable + initUp, "still serves with its old binary"},
		{"init.d prerm upgrade", false, 0, "", []string{"prerm", "upgrade", "1.0.1"}, 0, "", ""},
		{"init.d prerm remove", false, 0, "", []string{"prerm", "remove"}, 0, "invoke-rc.d gracevisord stop", ""},
	} {
		code, out, calls := script(c.systemd, c.rc, c.out, c.args...)
		if got := strings.Join(calls, "|"); code != c.code || got != c.calls || !strings.Contains(out, c.says) {
			t.Errorf("%s: %v exit %d, want %d; ran\n  %s\nwant\n  %s\noutput:\n%s", c.name, c.args, code, c.code, got, c.calls, out)
		}
	}
}
