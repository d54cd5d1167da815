package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"go.uber.org/goleak"
)

// binary is the demoapp built once for the whole test run.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "demoapp-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "demoapp")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build demoapp:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(dir) }))
}

const waitTimeout = 10 * time.Second

// proc is a running demoapp. It is its own process group leader, so the
// test can signal the group without signalling itself.
type proc struct {
	cmd    *exec.Cmd
	stdout *output
	stderr *output
	exited chan struct{} // closed once Wait returned; then state is set
	state  *os.ProcessState
}

// start runs demoapp with args and extra environment. The process (and its
// group) is killed when the test ends.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	// A -race binary sleeps 1s at exit by default; a race it finds still
	// makes it exit 66, which every exit-code check here rejects.
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{cmd: cmd, stdout: newOutput(), stderr: newOutput(), exited: make(chan struct{})}
	outR, outW := mustPipe(t)
	errR, errW := mustPipe(t)
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		t.Fatalf("start demoapp: %v", err)
	}
	outW.Close()
	errW.Close()
	go p.stdout.collect(outR)
	go p.stderr.collect(errR)
	go p.wait()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		if !p.stdout.waitEOF() || !p.stderr.waitEOF() {
			t.Errorf("demoapp's output pipes still open %s after its group was killed", waitTimeout)
		}
		if t.Failed() {
			t.Logf("demoapp %v\nstdout:\n%s\nstderr:\n%s", args, p.stdout, p.stderr)
		}
	})
	return p
}

func mustPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	return r, w
}

func (p *proc) wait() {
	p.cmd.Wait()
	p.state = p.cmd.ProcessState
	close(p.exited)
}

var listeningRE = regexp.MustCompile(`listening on (\S+) `)

// startListening starts demoapp and returns it with its address once it
// printed its listening line.
func startListening(t *testing.T, args ...string) (*proc, string) {
	t.Helper()
	p := start(t, nil, append([]string{"--host", "127.0.0.1"}, args...)...)
	line := p.stdout.waitFor(t, "listening on")
	return p, listeningRE.FindStringSubmatch(line)[1]
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// exitCode waits for the process to exit and returns its exit code, or -1
// (and the signal) if a signal ended it.
func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(waitTimeout):
		t.Fatalf("demoapp did not exit within %s", waitTimeout)
	}
	return p.state.ExitCode()
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool { return !testutil.Closed(p.exited) }

// output collects one stream of a process, line by line.
type output struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced whenever lines or eof change
	eof     bool
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

// collect reads r until every writer (the process and its children) closed it.
func (o *output) collect(r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		o.update(func() { o.lines = append(o.lines, sc.Text()) })
	}
	o.update(func() { o.eof = true })
}

func (o *output) update(f func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f()
	close(o.changed)
	o.changed = make(chan struct{})
}

// find returns the first line containing substr, whether the stream ended,
// and a channel that fires on the next change.
func (o *output) find(substr string) (line string, found, eof bool, changed <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, l := range o.lines {
		if strings.Contains(l, substr) {
			return l, true, o.eof, o.changed
		}
	}
	return "", false, o.eof, o.changed
}

// waitFor returns the first line containing substr, waiting for it.
func (o *output) waitFor(t *testing.T, substr string) string {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		line, found, eof, changed := o.find(substr)
		if found {
			return line
		}
		if eof {
			t.Fatalf("output ended without a line containing %q:\n%s", substr, o)
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no line containing %q within %s:\n%s", substr, waitTimeout, o)
		}
	}
}

// waitEOF waits until every writer closed the stream; false on timeout.
func (o *output) waitEOF() bool {
	deadline := time.After(waitTimeout)
	for {
		_, _, eof, changed := o.find("\x00never")
		if eof {
			return true
		}
		select {
		case <-changed:
		case <-deadline:
			return false
		}
	}
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.lines, "\n")
}
