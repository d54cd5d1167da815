package main

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

func TestFailStart(t *testing.T) {
	p := start(t, nil, "--fail-start", "--port", "0")
	if code := p.exitCode(t); code != 1 {
		t.Fatalf("exit code = %d, want 1", code)
	}
	p.stderr.waitFor(t, "--fail-start")
}

func TestPortInUseFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	p := start(t, nil, "--host", "127.0.0.1", "--port", port)
	if code := p.exitCode(t); code != 1 {
		t.Fatalf("exit code = %d, want 1", code)
	}
	p.stderr.waitFor(t, "address already in use")
}

func TestUsageErrorsExit2(t *testing.T) {
	cases := []struct {
		env  []string
		args []string
		msg  string
	}{
		{nil, nil, "no port"},
		{[]string{"PORT=abc"}, nil, `$PORT="abc" is not a port number`},
		{nil, []string{"--port", "70000"}, "out of range"},
		{nil, []string{"--port", "0", "extra"}, "unexpected arguments"},
		{nil, []string{"--bogus"}, "flag provided but not defined"},
	}
	for _, c := range cases {
		t.Run(c.msg, func(t *testing.T) {
			// Clear the port variables the test itself may have inherited.
			env := append([]string{"PORT=", "GRACEVISOR_PORT="}, c.env...)
			p := start(t, env, c.args...)
			if code := p.exitCode(t); code != 2 {
				t.Fatalf("exit code = %d, want 2", code)
			}
			p.stderr.waitFor(t, c.msg)
		})
	}
}

func TestPortFromEnvironment(t *testing.T) {
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	}
	gvPort, plainPort := free(), free()
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"PORT", []string{"GRACEVISOR_PORT=", "PORT=" + plainPort}, nil, plainPort},
		{"GRACEVISOR_PORT wins over PORT", []string{"GRACEVISOR_PORT=" + gvPort, "PORT=" + plainPort}, nil, gvPort},
		{"--port wins over both", []string{"GRACEVISOR_PORT=" + gvPort, "PORT=" + plainPort}, []string{"--port", "0"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := start(t, c.env, append([]string{"--host", "127.0.0.1"}, c.args...)...)
			line := p.stdout.waitFor(t, "listening on")
			_, port, _ := net.SplitHostPort(listeningRE.FindStringSubmatch(line)[1])
			if c.want != "" && port != c.want {
				t.Fatalf("listening on port %s, want %s", port, c.want)
			}
			if c.want == "" && (port == gvPort || port == plainPort) {
				t.Fatalf("listening on env port %s despite --port 0", port)
			}
		})
	}
}

func TestStartDelay(t *testing.T) {
	const delay = 400 * time.Millisecond
	begin := time.Now()
	_, addr := startListening(t, "--port", "0", "--start-delay", delay.String())
	if elapsed := time.Since(begin); elapsed < delay {
		t.Fatalf("listening after %s, want at least %s", elapsed, delay)
	}
	if code, _ := get(t, "http://"+addr+"/health"); code != 200 {
		t.Fatalf("GET /health = %d", code)
	}
}

func TestSIGTERMDuringStartDelay(t *testing.T) {
	p := start(t, nil, "--port", "0", "--start-delay", "1m")
	p.stdout.waitFor(t, "starting in 1m0s")
	p.signal(t, syscall.SIGTERM)
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit code = %d, want 0", code)
	}
	p.stdout.waitFor(t, "stopping before it started")
}

func TestExitAfterCrashes(t *testing.T) {
	t.Run("while serving", func(t *testing.T) {
		p, _ := startListening(t, "--port", "0", "--exit-after", "300ms")
		if code := p.exitCode(t); code != 1 {
			t.Fatalf("exit code = %d, want 1", code)
		}
		p.stderr.waitFor(t, "crashing on purpose")
	})
	t.Run("during a slow start", func(t *testing.T) {
		p := start(t, nil, "--port", "0", "--start-delay", "1m", "--exit-after", "100ms")
		if code := p.exitCode(t); code != 1 {
			t.Fatalf("exit code = %d, want 1", code)
		}
		if line, found, _, _ := p.stdout.find("listening"); found {
			t.Fatalf("listened before crashing: %s", line)
		}
	})
}

// --ignore-term survives every catchable stop signal; SIGKILL ends it.
func TestIgnoreTerm(t *testing.T) {
	p, addr := startListening(t, "--port", "0", "--ignore-term")
	sigs := []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP,
		syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}
	for _, sig := range sigs {
		p.signal(t, sig)
	}
	// The kernel itself must discard them: check the ignored-signal mask.
	mask := sigIgnMask(t, p.pid())
	for _, sig := range sigs {
		if mask&(1<<(uint(sig)-1)) == 0 {
			t.Errorf("%v is not ignored (SigIgn %#x)", sig, mask)
		}
	}
	if code, _ := get(t, "http://"+addr+"/"); code != 200 || !p.running() {
		t.Fatalf("after stop signals: GET / = %d, running = %v", code, p.running())
	}
	p.signal(t, syscall.SIGKILL)
	p.exitCode(t)
	if ws := p.state.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
		t.Fatalf("ended by %v, want SIGKILL", ws)
	}
}

// sigIgnMask reads the SigIgn mask from /proc/PID/status.
func sigIgnMask(t *testing.T, pid int) uint64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^SigIgn:\s*([0-9a-f]+)$`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no SigIgn in /proc/%d/status", pid)
	}
	mask, err := strconv.ParseUint(string(m[1]), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return mask
}

var childRE = regexp.MustCompile(`child pid=(\d+)`)

// --spawn-child leaves a child in demoapp's process group that outlives a
// graceful exit of its parent; killing the group ends it.
func TestSpawnChildOutlivesParent(t *testing.T) {
	p, _ := startListening(t, "--port", "0", "--spawn-child")
	child, _ := strconv.Atoi(childRE.FindStringSubmatch(p.stdout.waitFor(t, "child pid="))[1])
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) }) // in case the group kill missed it

	pgid, err := syscall.Getpgid(child)
	if err != nil {
		t.Fatalf("getpgid(child %d): %v", child, err)
	}
	if pgid != p.pid() {
		t.Fatalf("child's process group = %d, want demoapp's %d", pgid, p.pid())
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit code = %d, want 0", code)
	}
	if !testutil.Alive(child) {
		t.Fatalf("child %d died with its parent; it is meant to be an orphan", child)
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill group %d: %v", pgid, err)
	}
	if !testutil.WaitFor(waitTimeout, func() bool { return !testutil.Alive(child) }) {
		t.Fatalf("child %d survived SIGKILL to its group", child)
	}
}
