package procs

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
)

// testTiming keeps crash backoff short.
var testTiming = timing{backoffBase: 20 * time.Millisecond, backoffMax: 200 * time.Millisecond, stableAfter: 10 * time.Second, readyPoll: readyPollInterval}

// startSupervisor starts apps and shuts the supervisor down at cleanup.
func startSupervisor(t *testing.T, apps ...config.App) *Supervisor {
	t.Helper()
	return startSupervisorWith(t, func(*Supervisor) {}, apps...)
}

// startSupervisorWith is startSupervisor with setup run before Start.
func startSupervisorWith(t *testing.T, setup func(*Supervisor), apps ...config.App) *Supervisor {
	t.Helper()
	s := New(testConfig(apps...), testLogger(t))
	s.d.timing = testTiming
	setup(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	return s
}

func testConfig(apps ...config.App) *config.Config {
	return &config.Config{PortRange: config.PortRange{From: 21000, To: 23000}, Apps: apps}
}

func status(t *testing.T, s *Supervisor, name string) AppStatus {
	t.Helper()
	st, err := s.Status(name)
	if err != nil || len(st) != 1 {
		t.Fatalf("status %s: %v %v", name, st, err)
	}
	return st[0]
}

// servingPID is the pid of the app's serving instance, 0 if none.
func servingPID(t *testing.T, s *Supervisor, name string) int {
	st := status(t, s, name)
	for _, in := range st.Instances {
		if in.State == InstServing {
			return in.PID
		}
	}
	return 0
}

// ask fetches / through the app's external listener on a fresh connection.
func ask(t *testing.T, s *Supervisor, name string) (int, error) {
	body, err := get(noKeepAlive, "http://"+status(t, s, name).External+"/")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(body)
}

func TestReloadUnderLoadLosesNothing(t *testing.T) {
	s := startSupervisor(t, testApp(t, "web", modeHTTP))
	url := "http://" + status(t, s, "web").External + "/"
	first := servingPID(t, s, "web")

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := noKeepAliveClient()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := get(client, url); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	pids := map[int]bool{first: true}
	for i := range 10 {
		res, err := s.Reload(context.Background(), "web")
		if err != nil {
			t.Errorf("reload %d: %v", i, err)
			continue
		}
		pids[res.PID] = true
		t.Logf("reload %d: pid %d port %d in %.1f ms", i, res.PID, res.Port, res.DurationMS)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests, %d failed", ok.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed; first: %v", failed.Load(), ok.Load()+failed.Load(), firstErr.Load())
	}
	if len(pids) != 11 || servingPID(t, s, "web") == first {
		t.Errorf("pids %v: want 11 distinct instances", pids)
	}
	if st := status(t, s, "web"); st.State != AppRunning || st.Restarts != 10 {
		t.Errorf("status %+v; want RUNNING with 10 restarts", st)
	}
}

func noKeepAliveClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
}

func TestLongLivedConnectionSurvivesReloads(t *testing.T) {
	app := testApp(t, "ws", modeHTTP)
	app.DrainTimeout = 0 // wait for the last connection however long
	s := startSupervisor(t, app)
	ext := status(t, s, "ws").External
	first := servingPID(t, s, "ws")

	conn, err := net.Dial("tcp", ext)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 3 {
		if got := keepAliveGet(t, conn); got != first {
			t.Fatalf("before reload %d the connection reached pid %d, want %d", i, got, first)
		}
		if _, err := s.Reload(context.Background(), "ws"); err != nil {
			t.Fatal(err)
		}
	}
	if got := keepAliveGet(t, conn); got != first {
		t.Fatalf("after 3 reloads the connection reached pid %d, want %d", got, first)
	}
	// The two in-between instances had no connection and are gone; the first drains.
	eventually(t, 5*time.Second, "middle instances to stop", func() bool { return len(status(t, s, "ws").Instances) == 2 })
	if !alive(first) {
		t.Fatal("old instance stopped while its connection was open")
	}
	st := status(t, s, "ws")
	if in := st.Instances[1]; in.PID != first || in.State != InstDraining || in.Connections != 1 {
		t.Errorf("old instance status %+v; want DRAINING with 1 connection", in)
	}
	conn.Close()
	eventually(t, 5*time.Second, "the old instance to stop after its connection closed", func() bool { return !alive(first) })
}

// keepAliveGet sends one HTTP request on conn and returns the pid answered.
func keepAliveGet(t *testing.T, conn net.Conn) int {
	t.Helper()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	resp := string(buf[:n])
	pid, err := strconv.Atoi(resp[strings.LastIndex(resp, "\r\n\r\n")+4:])
	if err != nil {
		t.Fatalf("response %q: %v", resp, err)
	}
	return pid
}

func TestReloadOfCrashingInstanceKeepsOldServing(t *testing.T) {
	crash := filepath.Join(t.TempDir(), "crash")
	app := testApp(t, "web", modeHTTP, envCrashFile+"="+crash)
	app.MaxRetries = 2
	s := startSupervisor(t, app)
	old := servingPID(t, s, "web")

	os.WriteFile(crash, nil, 0o644)
	_, err := s.Reload(context.Background(), "web")
	if err == nil || !strings.Contains(err.Error(), "3 tries failed") || !strings.Contains(err.Error(), "exit status 3") ||
		!strings.Contains(err.Error(), "still serves") {
		t.Fatalf("reload error = %v", err)
	}
	if pid, err := ask(t, s, "web"); err != nil || pid != old {
		t.Errorf("after the failed reload: pid %d, %v; want the old %d", pid, err, old)
	}
	st := status(t, s, "web")
	if st.State != AppRunning || !strings.Contains(st.LastError, "still serves") {
		t.Errorf("status %+v", st)
	}
	// Once the cause is gone, a reload works again.
	os.Remove(crash)
	if res, err := s.Reload(context.Background(), "web"); err != nil || res.PID == old {
		t.Errorf("reload after fix: %+v %v", res, err)
	}
}

func TestReloadStartTimeoutKeepsOldServing(t *testing.T) {
	hang := filepath.Join(t.TempDir(), "hang")
	app := testApp(t, "web", modeHTTP, envHangFile+"="+hang)
	// Long enough that the first start succeeds on a loaded machine under -race.
	const limit = 2 * time.Second
	app.StartTimeout, app.MaxRetries = limit, 0
	s := startSupervisor(t, app)
	old := servingPID(t, s, "web")
	if old == 0 {
		t.Fatalf("the first instance did not start: %+v", status(t, s, "web"))
	}

	os.WriteFile(hang, nil, 0o644)
	begin := time.Now()
	_, err := s.Reload(context.Background(), "web")
	took := time.Since(begin)
	if !errors.Is(err, errStartTimeout) {
		t.Fatalf("reload error = %v, want start_timeout", err)
	}
	if took < limit || took > limit+4*time.Second {
		t.Errorf("reload gave up after %s, want about %s", took, limit)
	}
	if pid, err := ask(t, s, "web"); err != nil || pid != old {
		t.Errorf("after the failed reload: pid %d, %v; want the old %d", pid, err, old)
	}
	eventually(t, 5*time.Second, "the hung instance to be killed", func() bool { return len(status(t, s, "web").Instances) == 1 })
}

func TestStopKillsTermIgnoringAppAndChild(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	app := testApp(t, "stubborn", modeHTTP, envIgnoreTerm+"=1", envChildPIDFile+"="+pidFile)
	app.StopTimeout = 300 * time.Millisecond
	s := startSupervisor(t, app)
	pid := servingPID(t, s, "stubborn")
	child, _ := strconv.Atoi(readFile(t, pidFile))

	begin := time.Now()
	if err := s.StopApp(context.Background(), "stubborn"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < 300*time.Millisecond {
		t.Errorf("stop took %s although SIGTERM is ignored", took)
	}
	if alive(pid) || len(groupMembers(t, pid)) != 0 {
		t.Errorf("pid %d or its group %v still alive", pid, groupMembers(t, pid))
	}
	eventually(t, 5*time.Second, "the child to die", func() bool { return !alive(child) })
	st := status(t, s, "stubborn")
	if st.State != AppStopped || len(st.Instances) != 0 {
		t.Errorf("status %+v", st)
	}
	// The listener refuses new clients at once.
	if _, err := ask(t, s, "stubborn"); err == nil {
		t.Error("a stopped app served a request")
	}
	if err := s.StartApp(context.Background(), "stubborn"); err != nil || servingPID(t, s, "stubborn") == 0 {
		t.Errorf("start again: %v", err)
	}
}

func TestCrashLoopGoesFatal(t *testing.T) {
	app := testApp(t, "loop", modeCrash)
	app.MaxRetries = 3
	s := startSupervisor(t, app) // returns after the first failed try
	eventually(t, 10*time.Second, "FATAL", func() bool { return status(t, s, "loop").State == AppFatal })
	st := status(t, s, "loop")
	if !strings.Contains(st.LastError, "4 tries failed") || !strings.Contains(st.LastError, "FATAL") {
		t.Errorf("last error %q", st.LastError)
	}
	if got := strings.Count(readFile(t, app.Stderr.Path), "boom\n"); got != 4 {
		t.Errorf("%d starts, want 1 + max_retries = 4", got)
	}
	// A FATAL app's listener closes new connections at once (connect_timeout is 5s).
	begin := time.Now()
	if _, err := ask(t, s, "loop"); err == nil || time.Since(begin) > time.Second {
		t.Errorf("FATAL app: err %v after %s; want a fast failure", err, time.Since(begin))
	}
	// Start resets the counter and tries again (it fails again here).
	if err := s.StartApp(context.Background(), "loop"); err == nil || !strings.Contains(err.Error(), "FATAL") {
		t.Errorf("start of a crashing app: %v", err)
	}
}

func TestCrashedInstanceIsRestartedWhileClientsWait(t *testing.T) {
	s := startSupervisor(t, testApp(t, "web", modeHTTP))
	ext := status(t, s, "web").External
	old := servingPID(t, s, "web")
	get(noKeepAlive, "http://"+ext+"/exit") // the instance exits mid-request
	// Connections racing with the exit itself may be reset by the dying
	// kernel socket; once the crash is seen, new clients wait for the restart.
	eventually(t, 5*time.Second, "the crash to be noticed", func() bool { return servingPID(t, s, "web") != old })
	pid, err := ask(t, s, "web")
	if err != nil || pid == old || pid == 0 {
		t.Fatalf("after crash: pid %d, %v", pid, err)
	}
	if st := status(t, s, "web"); st.State != AppRunning || !strings.Contains(st.LastError, "exit status 1") {
		t.Errorf("status %+v", st)
	}
}

func TestUnhealthyInstanceIsReplaced(t *testing.T) {
	sick := filepath.Join(t.TempDir(), "sick")
	s := startSupervisor(t, testApp(t, "web", modeHTTP, envUnhealthyFile+"="+sick))
	old := servingPID(t, s, "web")
	os.WriteFile(sick, []byte(strconv.Itoa(old)), 0o644)
	eventually(t, 10*time.Second, "a replacement", func() bool {
		p := servingPID(t, s, "web")
		return p != 0 && p != old
	})
	if pid, err := ask(t, s, "web"); err != nil || pid == old {
		t.Errorf("pid %d, %v", pid, err)
	}
	eventually(t, 5*time.Second, "the unhealthy instance to stop", func() bool { return !alive(old) })
	if st := status(t, s, "web"); !strings.Contains(st.LastError, "health check failed") {
		t.Errorf("last error %q", st.LastError)
	}
}

func TestConcurrentReloadsCoalesce(t *testing.T) {
	s := startSupervisor(t, testApp(t, "web", modeHTTP))
	first := servingPID(t, s, "web")
	results := make(chan ReloadResult, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Reload(context.Background(), "web")
			if err != nil {
				t.Error(err)
			}
			results <- res
		}()
	}
	wg.Wait()
	close(results)
	pids := map[int]int{}
	for r := range results {
		pids[r.PID]++
	}
	// One reload in flight plus at most one queued behind it.
	if len(pids) > 2 || pids[first] != 0 {
		t.Errorf("reload pids %v: want at most 2 new instances", pids)
	}
}

func TestUnknownApp(t *testing.T) {
	s := startSupervisor(t, testApp(t, "web", modeHTTP))
	ctx := context.Background()
	_, rerr := s.Reload(ctx, "nope")
	_, serr := s.Status("web", "nope")
	for _, err := range []error{s.StartApp(ctx, "nope"), s.StopApp(ctx, "nope"), s.RestartApp(ctx, "nope"), rerr, serr} {
		if !errors.Is(err, ErrUnknownApp) || !strings.Contains(err.Error(), "nope") {
			t.Errorf("got %v, want ErrUnknownApp naming nope", err)
		}
	}
}

func TestStartFailsIfAListenerIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	freePort := free.Addr().(*net.TCPAddr).Port
	free.Close()

	a, b := testApp(t, "a", modeHTTP), testApp(t, "b", modeHTTP)
	a.ExternalPort = freePort
	b.ExternalPort = taken.Addr().(*net.TCPAddr).Port
	s := New(testConfig(a, b), testLogger(t))
	err = s.Start(context.Background())
	want := "listen b on " + taken.Addr().String() + ": "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("start = %v, want %q…", err, want)
	}
	// Nothing was started and a's listener was closed again.
	ln, err := net.Listen("tcp", a.ExternalAddr())
	if err != nil {
		t.Fatalf("a's address is still bound: %v", err)
	}
	ln.Close()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRestartAndShutdown(t *testing.T) {
	s := startSupervisor(t, testApp(t, "web", modeHTTP))
	old := servingPID(t, s, "web")
	if err := s.RestartApp(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	if alive(old) || servingPID(t, s, "web") == old {
		t.Error("restart kept the old instance")
	}
	pid := servingPID(t, s, "web")
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Error("instance outlived Shutdown")
	}
}

func TestUpdate(t *testing.T) {
	keep, change, drop := testApp(t, "keep", modeHTTP), testApp(t, "change", modeHTTP), testApp(t, "drop", modeHTTP)
	s := startSupervisor(t, keep, change, drop)
	keepPID, changePID, dropPID := servingPID(t, s, "keep"), servingPID(t, s, "change"), servingPID(t, s, "drop")

	changed := change
	changed.Environment = append(slices.Clone(change.Environment), "EXTRA=new")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	newPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	changed.ExternalPort = newPort
	added := testApp(t, "added", modeHTTP)

	next := testConfig(keep, changed, added)
	// config.Diff compares resolved apps; the test builds them directly.
	ch, err := s.Update(context.Background(), next)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ch.Added, ",") != "added" || strings.Join(ch.Removed, ",") != "drop" || strings.Join(ch.Changed, ",") != "change" {
		t.Fatalf("changes %+v", ch)
	}
	if servingPID(t, s, "keep") != keepPID {
		t.Error("an untouched app was restarted")
	}
	if alive(dropPID) {
		t.Error("a removed app still runs")
	}
	if _, err := s.Status("drop"); !errors.Is(err, ErrUnknownApp) {
		t.Errorf("status of removed app: %v", err)
	}
	st := status(t, s, "change")
	if st.External != net.JoinHostPort("127.0.0.1", strconv.Itoa(newPort)) || servingPID(t, s, "change") == changePID {
		t.Errorf("changed app %+v", st)
	}
	if got, err := get(noKeepAlive, "http://"+st.External+"/env?k=EXTRA"); err != nil || got != "new" {
		t.Errorf("changed app env EXTRA = %q, %v", got, err)
	}
	if pid, err := ask(t, s, "added"); err != nil || pid == 0 {
		t.Errorf("added app: %d %v", pid, err)
	}
	all, _ := s.Status()
	var names []string
	for _, a := range all {
		names = append(names, a.Name)
	}
	if strings.Join(names, ",") != "keep,change,added" {
		t.Errorf("status order %v", names)
	}
}

func TestStopWhileStartingCancelsTheStart(t *testing.T) {
	hang := filepath.Join(t.TempDir(), "hang")
	s := startSupervisor(t, testApp(t, "web", modeHTTP, envHangFile+"="+hang))
	ctx := context.Background()
	if err := s.StopApp(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(hang, nil, 0o644)
	started := make(chan error, 1)
	go func() { started <- s.StartApp(ctx, "web") }()
	var pid int
	eventually(t, 5*time.Second, "STARTING", func() bool {
		st := status(t, s, "web")
		if st.State == AppStarting && len(st.Instances) == 1 {
			pid = st.Instances[0].PID
			return true
		}
		return false
	})
	if err := s.StopApp(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := <-started; !errors.Is(err, ErrStopped) {
		t.Errorf("start cut short by stop = %v, want ErrStopped", err)
	}
	if alive(pid) {
		t.Errorf("starting instance %d survived the stop", pid)
	}
	if st := status(t, s, "web"); st.State != AppStopped || len(st.Instances) != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestBackoffIsCappedExponential(t *testing.T) {
	tm := timing{backoffBase: 100 * time.Millisecond, backoffMax: time.Second}
	var got []string
	for n := 1; n <= 6; n++ {
		got = append(got, tm.backoff(n).String())
	}
	if strings.Join(got, " ") != "100ms 200ms 400ms 800ms 1s 1s" {
		t.Errorf("backoff = %v", got)
	}
}
