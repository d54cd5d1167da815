package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/procs"
)

// env is one test's gracevisor installation: a config dir, its ports, and
// the daemons started on it.
type env struct {
	t        *testing.T
	dir      string // config dir; conf.d inside it is the apps_include folder
	rpc      string // 127.0.0.1:port of the control API, or unix:/path
	from, to int    // port_range
	// rpcYAML replaces the rpc section's flow mapping body when set
	// (security tests); ctlFlags are added to every gracevisorctl run.
	rpcYAML  string
	ctlFlags []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), rpc: testutil.FreeAddr(t)}
	e.from = 24000 + 100*rand.IntN(80) // 24000-31999: below the ephemeral range (32768+) where testutil.FreeAddr's ports come from, and apart from procs' tests (21000-23000), which go test may run at the same time
	e.to = e.from + 100
	if err := os.MkdirAll(filepath.Join(e.dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// app is one demoapp in a config.
type app struct {
	name  string
	addr  string // external 127.0.0.1:port
	args  string // extra demoapp flags
	extra string // extra YAML lines for the app, not indented (e.g. "environment: [X=1]")
}

func (e *env) newApp(name, args string) app {
	return app{name: name, addr: testutil.FreeAddr(e.t), args: args}
}

// yaml is the app as a list item of `apps:`.
func (a app) yaml() string {
	return "  - " + strings.ReplaceAll(a.fileYAML(), "\n", "\n    ") + "\n"
}

// fileYAML is the app as a file of its own (apps_include). Keys in extra
// replace the harness's defaults.
func (a app) fileYAML() string {
	lines := []string{
		"name: " + a.name,
		fmt.Sprintf("command: %s --host=127.0.0.1 --port={port} --grace=2s %s", binDemo, a.args),
		"internal_host: 127.0.0.1",
		"external_host: 127.0.0.1",
		"external_port: " + a.addr[strings.LastIndexByte(a.addr, ':')+1:],
		"healthcheck: /health",
		"start_timeout: 10",
		"stop_timeout: 5",
		"drain_timeout: 5",
	}
	var extra []string
	if a.extra != "" {
		extra = strings.Split(strings.TrimRight(a.extra, "\n"), "\n")
	}
	var out []string
	for _, l := range lines {
		key := l[:strings.IndexByte(l, ':')+1]
		if !slices.ContainsFunc(extra, func(x string) bool { return strings.HasPrefix(x, key) }) {
			out = append(out, l)
		}
	}
	return strings.Join(append(out, extra...), "\n")
}

// writeConfig writes gracevisor.yaml with the given inline apps.
func (e *env) writeConfig(apps ...app) {
	e.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "port_range: {from: %d, to: %d}\n", e.from, e.to)
	if e.rpcYAML != "" {
		fmt.Fprintf(&b, "rpc: {%s}\n", e.rpcYAML)
	} else {
		fmt.Fprintf(&b, "rpc: {host: 127.0.0.1, port: %d}\n", portOf(e.t, e.rpc))
	}
	fmt.Fprintf(&b, "logger: {log_dir: %s}\n", filepath.Join(e.dir, "log"))
	fmt.Fprintf(&b, "apps_include: [%s]\n", filepath.Join(e.dir, "conf.d"))
	if len(apps) == 0 {
		b.WriteString("apps: []\n")
	} else {
		b.WriteString("apps:\n")
	}
	for _, a := range apps {
		b.WriteString(a.yaml())
	}
	e.writeFile("gracevisor.yaml", b.String())
}

// writeFile writes a file relative to the config dir.
func (e *env) writeFile(name, content string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, name), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// daemon is one running gracevisord.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	output *testutil.LockedBuffer // stdout and stderr
	exited chan struct{}          // closed when the process has exited
	state  *os.ProcessState
}

// spawn starts gracevisord on the env's config in its own process group,
// logging to stderr. Cleanup stops it (SIGTERM, then SIGKILL to its group)
// and checks that no app process it started is left.
func (e *env) spawn() *daemon { return e.spawnDaemon([]string{"--log-stderr"}, nil) }

// spawnDaemon is spawn with gracevisord's extra flags and environment.
func (e *env) spawnDaemon(flags, extraEnv []string) *daemon {
	e.t.Helper()
	d := &daemon{t: e.t, output: &testutil.LockedBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(binDaemon, append([]string{"--conf", e.dir}, flags...)...)
	if extraEnv != nil {
		d.cmd.Env = append(os.Environ(), extraEnv...)
	}
	d.cmd.Stdout, d.cmd.Stderr = d.output, d.output
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go waitDaemon(d)
	e.t.Cleanup(d.cleanup)
	return d
}

func waitDaemon(d *daemon) {
	_ = d.cmd.Wait()
	d.state = d.cmd.ProcessState
	close(d.exited)
}

// start spawns gracevisord and waits until its control API answers.
func (e *env) start() *daemon {
	e.t.Helper()
	d := e.spawn()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r := e.ctl("version"); r.code == 0 {
			return d
		}
		select {
		case <-d.exited:
			e.t.Fatalf("gracevisord exited at start-up (%v):\n%s", d.state, d.output)
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("gracevisord's API did not come up:\n%s", d.output)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitExit waits for the daemon to exit and returns its exit code.
func (d *daemon) waitExit(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.exited:
		return d.state.ExitCode()
	case <-time.After(timeout):
		d.t.Fatalf("gracevisord did not exit within %s:\n%s", timeout, d.output)
		return -1
	}
}

func (d *daemon) signal(sig syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal %v: %v", sig, err)
	}
}

func (d *daemon) cleanup() {
	select {
	case <-d.exited:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return
	case <-time.After(20 * time.Second):
	}
	d.t.Errorf("gracevisord ignored SIGTERM for 20s; killing its group:\n%s", d.output)
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	<-d.exited
}

// result is one gracevisorctl run.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// ctl runs gracevisorctl --rpc ADDR args... and waits for it.
func (e *env) ctl(args ...string) result {
	e.t.Helper()
	// --conf: the test's own config, never the machine's /etc/gracevisor
	// (an installed package's token file would be sent, or be unreadable).
	flags := append([]string{"--conf", e.dir, "--rpc", e.rpc}, e.ctlFlags...)
	return runCtl(e.t, append(flags, args...)...)
}

func runCtl(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, binCtl, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("gracevisorctl %q: %v", args, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

// mustCtl runs gracevisorctl and fails the test unless it exits with want.
func (e *env) mustCtl(want int, args ...string) result {
	e.t.Helper()
	r := e.ctl(args...)
	if r.code != want {
		e.t.Fatalf("gracevisorctl %q: %v; want exit %d", args, r, want)
	}
	return r
}

// status returns every app's status, by name, from `status --json`.
func (e *env) status() map[string]procs.AppStatus {
	e.t.Helper()
	r := e.ctl("status", "--json")
	if r.code != 0 && r.code != 3 {
		e.t.Fatalf("status --json: %v", r)
	}
	var apps []procs.AppStatus
	if err := json.Unmarshal([]byte(r.stdout), &apps); err != nil {
		e.t.Fatalf("status --json output %q: %v", r.stdout, err)
	}
	m := map[string]procs.AppStatus{}
	for _, a := range apps {
		m[a.Name] = a
	}
	return m
}

// servingPID is the pid of the app's first (serving) instance.
func (e *env) servingPID(name string) int {
	e.t.Helper()
	st, ok := e.status()[name]
	if !ok || len(st.Instances) == 0 {
		e.t.Fatalf("app %s has no instance: %+v", name, st)
	}
	return st.Instances[0].PID
}

// oneShot is an HTTP client that opens a fresh connection per request.
var oneShot = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

// get fetches http://addr/path on a fresh connection.
func get(addr, path string) (int, string, error) {
	resp, err := oneShot.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// pidBehind asks the app behind addr who it is ("pid=N started=T port=P").
func pidBehind(t *testing.T, addr string) int {
	t.Helper()
	code, body, err := get(addr, "/")
	if err != nil || code != 200 {
		t.Fatalf("GET %s: %d %q %v", addr, code, body, err)
	}
	return parsePID(t, body)
}

func parsePID(t *testing.T, body string) int {
	t.Helper()
	for _, f := range strings.Fields(body) {
		if v, ok := strings.CutPrefix(f, "pid="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	t.Fatalf("no pid=N in %q", body)
	return 0
}

// runningDemoapps lists live processes running this run's demoapp binary.
func runningDemoapps() []int {
	return pidsWhere(func(cmdline string) bool { return strings.HasPrefix(cmdline, binDemo+"\x00") })
}

// pidsWhere lists live processes whose command line (arguments joined by
// NUL bytes) satisfies match.
func pidsWhere(match func(cmdline string) bool) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err == nil && match(string(cmdline)) && testutil.Alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}
