package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/internal/testutil"
)

// upDaemon is a gracevisord that replaces itself: its pid changes with
// every upgrade. It runs a copy of the binary in the env's folder (a test
// may break or replace it) and writes its output to a file, which every
// successor inherits (a pipe would keep the first process's Wait waiting
// for them).
type upDaemon struct {
	e      *env
	bin    string // the binary at the daemon's path
	out    string // its stdout and stderr
	first  *exec.Cmd
	exited chan struct{} // the first process has exited
}

// spawnUpgradable starts gracevisord from a copy of the binary, with extra
// environment, and waits until its API answers. Cleanup stops whichever
// daemon runs then, and waits for every one of them to be gone.
func (e *env) spawnUpgradable(extraEnv ...string) *upDaemon {
	e.t.Helper()
	u := &upDaemon{e: e, bin: filepath.Join(e.dir, "gracevisord"), out: filepath.Join(e.dir, "daemon.out"), exited: make(chan struct{})}
	copyFile(e.t, binDaemon, u.bin, 0o755)
	out, err := os.Create(u.out)
	if err != nil {
		e.t.Fatal(err)
	}
	defer out.Close()
	u.first = exec.Command(u.bin, "--conf", e.dir, "--log-stderr")
	u.first.Env = append(os.Environ(), extraEnv...)
	u.first.Stdout, u.first.Stderr = out, out
	u.first.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := u.first.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { u.first.Wait(); close(u.exited) }()
	e.t.Cleanup(u.stop)
	testutil.Eventually(e.t, 30*time.Second, "the daemon's API", func() bool { return u.version().PID == u.first.Process.Pid })
	return u
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to+".tmp", data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil { // a running binary cannot be written
		t.Fatal(err)
	}
}

// output is what the daemons printed so far.
func (u *upDaemon) output() string {
	b, _ := os.ReadFile(u.out)
	return string(b)
}

// version asks the daemon that answers now; zero if none does.
func (u *upDaemon) version() api.Version {
	var v api.Version
	resp, err := oneShot.Get("http://" + u.e.rpc + api.PathVersion)
	if err != nil {
		return v
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&v)
	return v
}

func (u *upDaemon) pid() int { return u.version().PID }

// stop SIGTERMs the daemon that runs now and waits until it, every daemon
// before it and their apps are gone.
func (u *upDaemon) stop() {
	if pid := u.pid(); pid != 0 {
		syscall.Kill(pid, syscall.SIGTERM)
		testutil.Eventually(u.e.t, 30*time.Second, fmt.Sprintf("daemon %d to exit", pid), func() bool { return !testutil.Alive(pid) })
	}
	select {
	case <-u.exited:
	case <-time.After(30 * time.Second):
		u.e.t.Errorf("the first daemon is still running:\n%s", u.output())
		syscall.Kill(-u.first.Process.Pid, syscall.SIGKILL)
		<-u.exited
	}
}

// upgradeOutcome is what POST /api/v1/upgrade streamed.
type upgradeOutcome struct {
	status int
	events []api.UpgradeEvent
	result *api.UpgradeResult // the done step's
	failed string             // the failed step's detail, or the error body
}

// upgrade asks the daemon to upgrade itself and reads the stream to its end.
func (u *upDaemon) upgrade() upgradeOutcome {
	u.e.t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 3 * time.Minute}
	resp, err := client.Post("http://"+u.e.rpc+api.PathUpgrade, "application/json", bytes.NewBufferString("{}"))
	if err != nil {
		u.e.t.Fatalf("POST upgrade: %v", err)
	}
	defer resp.Body.Close()
	o := upgradeOutcome{status: resp.StatusCode}
	if resp.StatusCode != http.StatusOK {
		var e api.ErrorReply
		json.NewDecoder(resp.Body).Decode(&e)
		o.failed = e.Error
		return o
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev api.UpgradeEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			u.e.t.Fatalf("upgrade stream line %q: %v", sc.Text(), err)
		}
		o.events = append(o.events, ev)
		switch ev.Step {
		case api.StepDone:
			o.result = ev.Result
		case api.StepFailed:
			o.failed = ev.Detail
		}
	}
	return o
}

func (o upgradeOutcome) steps() []string {
	var s []string
	for _, ev := range o.events {
		s = append(s, ev.Step)
	}
	return s
}

// load is clients on fresh connections to an HTTP app, as fast as they go,
// counting every failure until stopped.
type load struct {
	addr     string
	ok, fail atomic.Int64
	firstErr atomic.Value
	stopc    chan struct{}
	wg       sync.WaitGroup
	began    time.Time
}

func startLoad(t *testing.T, addr string, workers int) *load {
	l := &load{addr: addr, stopc: make(chan struct{}), began: time.Now()}
	for range workers {
		l.wg.Add(1)
		go l.work()
	}
	t.Cleanup(func() { l.stop() })
	return l
}

func (l *load) work() {
	defer l.wg.Done()
	for {
		select {
		case <-l.stopc:
			return
		default:
		}
		code, _, err := get(l.addr, "/")
		if err == nil && code != 200 {
			err = fmt.Errorf("status %d", code)
		}
		if err != nil {
			l.fail.Add(1)
			l.firstErr.CompareAndSwap(nil, err)
			continue
		}
		l.ok.Add(1)
	}
}

// stop ends the load and returns the requests per second it made.
func (l *load) stop() float64 {
	select {
	case <-l.stopc:
	default:
		close(l.stopc)
	}
	l.wg.Wait()
	return float64(l.ok.Load()+l.fail.Load()) / time.Since(l.began).Seconds()
}

// check fails the test if any request failed.
func (l *load) check(t *testing.T) {
	t.Helper()
	if n := l.fail.Load(); n != 0 {
		err, _ := l.firstErr.Load().(error)
		t.Fatalf("%d of %d requests failed; first: %v", n, n+l.ok.Load(), err)
	}
}
