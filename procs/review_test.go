package procs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/ports"
)

// Tests for the findings of notes/review.md.

// onLoop runs fn on the app's loop and waits for it.
func onLoop(t *testing.T, s *Supervisor, name string, fn func(a *app)) {
	t.Helper()
	a, err := s.lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.request(ctx, func(r chan<- outcome) { fn(a); r <- outcome{} }); err != nil {
		t.Fatalf("on %s's loop: %v", name, err)
	}
}

func waitState(t *testing.T, s *Supervisor, name string, want AppState) {
	t.Helper()
	eventually(t, 10*time.Second, string(want), func() bool { return status(t, s, name).State == want })
}

// gatedApp listens only once its gate file exists; the gate starts open.
func gatedApp(t *testing.T, name string) (app config.App, gate string) {
	t.Helper()
	gate = filepath.Join(t.TempDir(), "gate")
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return testApp(t, name, modeHTTP, envGateFile+"="+gate), gate
}

// startAgainHeld runs app (a gatedApp called "web"), stops it, and starts
// it again in the background with its gate closed, so that it stays
// STARTING until the gate file is written. started gets StartApp's result.
func startAgainHeld(t *testing.T, app config.App, gate string) (s *Supervisor, started chan error) {
	t.Helper()
	s = startSupervisor(t, app)
	if err := s.StopApp(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	os.Remove(gate)
	started = make(chan error, 1)
	go func() { started <- s.StartApp(context.Background(), "web") }()
	waitState(t, s, "web", AppStarting)
	return s, started
}

// Bug 1: a client of an app started again after stop waits for the new
// instance instead of being refused.
func TestStartAfterStopHoldsClients(t *testing.T) {
	app, gate := gatedApp(t, "web")
	s, started := startAgainHeld(t, app, gate)

	conn, err := net.Dial("tcp", status(t, s, "web").External)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(gate, nil, 0o644)
	conn.SetReadDeadline(time.Now().Add(8 * time.Second))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if resp := string(buf[:n]); !strings.HasPrefix(resp, "HTTP/1.1 200") {
		t.Fatalf("client during STARTING after stop got %q, %v; want it held and served", resp, err)
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
}

// Bug 2: an update that arrives while the instance is starting with the old
// config is applied by a fresh instance.
func TestUpdateWhileStartingAppliesNewConfig(t *testing.T) {
	web, gate := gatedApp(t, "web")
	s, started := startAgainHeld(t, web, gate)

	changed := web
	changed.Environment = append(slices.Clone(web.Environment), "EXTRA=new")
	updated := make(chan error, 1)
	go func() { _, err := s.Update(context.Background(), testConfig(changed)); updated <- err }()
	eventually(t, 5*time.Second, "the update to reach the app", func() bool {
		var got bool
		onLoop(t, s, "web", func(x *app) { got = slices.Contains(x.cfg.Environment, "EXTRA=new") })
		return got
	})
	os.WriteFile(gate, nil, 0o644)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	if err := <-updated; err != nil {
		t.Fatal(err)
	}
	if got, err := get(noKeepAlive, "http://"+status(t, s, "web").External+"/env?k=EXTRA"); err != nil || got != "new" {
		t.Errorf("after an update during STARTING, EXTRA = %q, %v; want new", got, err)
	}
}

// Bug 3: while an update that changes only connect_timeout starts its new
// instance, every client is served by the old one, and a failed reload
// resets none of them.
func TestLimitsOnlyUpdateKeepsOldInstanceServing(t *testing.T) {
	hang := filepath.Join(t.TempDir(), "hang")
	app := testApp(t, "web", modeHTTP, envHangFile+"="+hang)
	app.StartTimeout, app.MaxRetries = 1500*time.Millisecond, 0
	s := startSupervisor(t, app)
	old := servingPID(t, s, "web")
	url := "http://" + status(t, s, "web").External + "/"

	os.WriteFile(hang, nil, 0o644)
	changed := app
	changed.ConnectTimeout = 4 * time.Second
	updated := make(chan error, 1)
	go func() { _, err := s.Update(context.Background(), testConfig(changed)); updated <- err }()
	waitState(t, s, "web", AppReloading)

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, err := get(noKeepAlive, url)
			if err == nil && body != fmt.Sprint(old) {
				err = fmt.Errorf("served by pid %s", body)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("client during the update: %v; want the old instance (pid %d)", err, old)
		}
	}
	if err := <-updated; err == nil || !strings.Contains(err.Error(), "still serves") {
		t.Errorf("update = %v, want the reload to fail", err)
	}
	if pid, err := ask(t, s, "web"); err != nil || pid != old {
		t.Errorf("after the failed update: pid %d, %v; want %d", pid, err, old)
	}
}

// Bug 3: limits changed by an update apply, on the same socket, once the
// new instance serves.
func TestLimitsOnlyUpdateAppliesOnTheSameSocket(t *testing.T) {
	app := testApp(t, "web", modeHTTP)
	s := startSupervisor(t, app)
	ext, old := status(t, s, "web").External, servingPID(t, s, "web")
	changed := app
	changed.MaxConnections = 1
	if _, err := s.Update(context.Background(), testConfig(changed)); err != nil {
		t.Fatal(err)
	}
	if st := status(t, s, "web"); st.External != ext || servingPID(t, s, "web") == old {
		t.Fatalf("after the update: %+v; want a new instance on %s", st, ext)
	}
	held, err := net.Dial("tcp", ext)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	keepAliveGet(t, held) // the one allowed connection is open
	if _, err := get(noKeepAlive, "http://"+ext+"/"); err == nil {
		t.Error("a second connection was served with max_connections 1")
	}
}

// Risk 5: an exit handled before a "ready" report that came from a probe
// just before the exit must not make the dead instance serve.
func TestExitReportedBeforeReadyIsNotAdopted(t *testing.T) {
	web, gate := gatedApp(t, "web")
	os.Remove(gate)
	s := New(testConfig(web), testLogger(t))
	s.timing = testTiming
	startInBackground(t, s)
	eventually(t, 10*time.Second, "STARTING", func() bool {
		st, err := s.Status("web")
		return err == nil && st[0].State == AppStarting
	})
	var adopted bool
	onLoop(t, s, "web", func(a *app) {
		in := a.attempt.in
		in.signal(syscall.SIGKILL)
		<-in.exited
		a.onExit(in)           // the exit comes first …
		a.onReady(in, "", nil) // … then a probe that passed just before it
		adopted = a.serving != nil && a.serving.in == in
	})
	if adopted {
		t.Fatal("a dead instance was adopted")
	}
	os.WriteFile(gate, nil, 0o644)
	waitState(t, s, "web", AppRunning)
	if pid, err := ask(t, s, "web"); err != nil || pid == 0 {
		t.Errorf("after the restart: %d %v", pid, err)
	}
}

// freePorts returns n consecutive ports that are free now.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for p := 22500; p < 22900; p += n {
		var lns []net.Listener
		for i := range n {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+i))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if len(lns) == n {
			return p
		}
	}
	t.Fatal("no free ports")
	return 0
}

// Risk 6: after port_range changes, a port held by an instance that has not
// bound it yet is not handed out again.
func TestPortRangeChangeKeepsHeldPorts(t *testing.T) {
	p := freePorts(t, 2)
	slow, _ := gatedApp(t, "slow")
	os.Remove(strings.TrimPrefix(slow.Environment[1], envGateFile+"="))
	cfg := testConfig(slow)
	cfg.PortRange.From, cfg.PortRange.To = p, p+1
	s := New(cfg, testLogger(t))
	s.timing = testTiming
	stopStart := startInBackground(t, s)
	eventually(t, 10*time.Second, "STARTING", func() bool {
		st, err := s.Status("slow")
		return err == nil && st[0].State == AppStarting
	})
	stopStart() // Start returns; the app goes on starting

	next := testConfig(slow, testApp(t, "added", modeHTTP))
	next.PortRange.From, next.PortRange.To = p, p+2
	if _, err := s.Update(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	slowPort, addedPort := status(t, s, "slow").Instances[0].Port, status(t, s, "added").Instances[0].Port
	if slowPort != p || addedPort != p+1 {
		t.Errorf("ports: slow %d, added %d; want %d and %d", slowPort, addedPort, p, p+1)
	}
}

// Risk 7: shutdown does not wait drain_timeout for an idle keep-alive
// client; the app closes it itself on stop_signal.
func TestShutdownDoesNotWaitForIdleKeepAlive(t *testing.T) {
	app := testApp(t, "web", modeHTTP)
	app.DrainTimeout = 0 // drain for ever
	s := startSupervisor(t, app)
	conn, err := net.Dial("tcp", status(t, s, "web").External)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pid := keepAliveGet(t, conn)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an idle keep-alive client: %v after %s", err, time.Since(begin))
	}
	if took := time.Since(begin); took > app.StopTimeout {
		t.Errorf("shutdown took %s", took)
	}
	if alive(pid) {
		t.Error("instance outlived shutdown")
	}
}

// Risk 8: a log write that hangs (a FIFO nobody reads) blocks neither the
// app nor its stop.
func TestHungLogDoesNotBlockStop(t *testing.T) {
	app := testApp(t, "web", modeHTTP)
	app.Stdout.Path = filepath.Join(t.TempDir(), "out.fifo")
	if err := syscall.Mkfifo(app.Stdout.Path, 0o600); err != nil {
		t.Fatal(err)
	}
	app.StopTimeout = time.Second
	s := startSupervisor(t, app)
	read := make(chan string, 1)
	t.Cleanup(func() { // runs before the shutdown: unblocks the writer
		go readFIFO(app.Stdout.Path, read)
		select {
		case out := <-read:
			if !strings.Contains(out, "listening on") {
				t.Errorf("log read from the FIFO: %q", out)
			}
		case <-time.After(10 * time.Second):
			t.Error("the FIFO's writer did not finish")
		}
	})
	pid := servingPID(t, s, "web")
	if got, err := ask(t, s, "web"); err != nil || got != pid {
		t.Fatalf("app with a hung log: %d %v", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin := time.Now()
	if err := s.StopApp(ctx, "web"); err != nil {
		t.Fatalf("stop with a hung log: %v", err)
	}
	if took := time.Since(begin); took > app.StopTimeout+logStuckAfter+time.Second {
		t.Errorf("stop took %s", took)
	}
}

func readFIFO(path string, out chan<- string) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		out <- err.Error()
		return
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	out <- string(b)
}

// A disk that fails (rather than hangs) drops lines, logs once, and leaves
// the app running.
func TestUnwritableLogKeepsAppRunning(t *testing.T) {
	app := testApp(t, "web", modeHTTP)
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o644)
	app.Stdout.Path = filepath.Join(notDir, "out.log")
	var logs syncBuffer
	s := New(testConfig(app), slog.New(slog.NewTextHandler(&logs, nil)))
	s.timing = testTiming
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	if pid, err := ask(t, s, "web"); err != nil || pid == 0 {
		t.Fatalf("app with an unwritable log: %d %v", pid, err)
	}
	if err := s.StopApp(context.Background(), "web"); err != nil { // writes "bye": a second failed write
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "write app log"); n != 1 {
		t.Errorf("the write error was logged %d times, want once:\n%s", n, logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Risk 11: status and metrics do not wait for a busy loop.
func TestStatusDoesNotWaitForBusyLoop(t *testing.T) {
	s := startSupervisor(t, testApp(t, "web", modeHTTP))
	pid := servingPID(t, s, "web")
	a, _ := s.lookup("web")
	release := make(chan struct{})
	defer close(release)
	a.post(func() { <-release }) // a slow step (resolving a host, forking …)
	done := make(chan AppStatus, 1)
	go func() {
		st, _ := s.Status("web")
		_, _ = s.Metrics("web")
		done <- st[0]
	}()
	select {
	case st := <-done:
		if st.State != AppRunning || len(st.Instances) != 1 || st.Instances[0].PID != pid {
			t.Errorf("status %+v", st)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("status waited for the busy loop")
	}
}

// Risk 12: an update whose ctx is canceled (a shutdown began) still stops
// removed apps gracefully: stop_signal, not an immediate SIGKILL.
func TestCanceledUpdateStopsRemovedAppsGracefully(t *testing.T) {
	keep, drop := testApp(t, "keep", modeHTTP), testApp(t, "drop", modeHTTP)
	s := startSupervisor(t, keep, drop)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Update(ctx, testConfig(keep)); err != nil {
		t.Fatal(err)
	}
	// "bye" is printed once the app's graceful shutdown is done.
	if out := readFile(t, drop.Stdout.Path); !strings.HasSuffix(out, "bye\n") {
		t.Errorf("removed app was not stopped gracefully; its stdout:\n%s", out)
	}
}

// Nit 16: restarting health checks of a member ends the earlier ones.
func TestHealthChecksAreNotDoubled(t *testing.T) {
	s := startSupervisor(t, testApp(t, "web", modeHTTP))
	onLoop(t, s, "web", func(a *app) { a.watchHealth(a.serving) })
	eventually(t, 3*time.Second, "one health checker", func() bool { return countGoroutines("procs.watchHealth(") == 1 })
}

func countGoroutines(fn string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// Nit 14: connections dial the IP the readiness probe reached, not
// internal_host by name.
func TestBackendIsTheReachedIP(t *testing.T) {
	web := testApp(t, "web", modeHTTP)
	web.InternalHost = "localhost"
	s := startSupervisor(t, web)
	var addr string
	onLoop(t, s, "web", func(a *app) { addr = a.serving.backend.Addr() })
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Addr() != netip.MustParseAddr("127.0.0.1") || int(ap.Port()) != status(t, s, "web").Instances[0].Port {
		t.Errorf("backend address %q (%v); want 127.0.0.1 and the instance's port", addr, err)
	}
	if pid, err := ask(t, s, "web"); err != nil || pid == 0 {
		t.Errorf("through the proxy: %d %v", pid, err)
	}
}

// A reload with no free port fails and leaves the old instance serving.
func TestReloadWithPortsExhausted(t *testing.T) {
	p := freePorts(t, 1)
	app := testApp(t, "web", modeHTTP)
	app.MaxRetries = 1
	cfg := testConfig(app)
	cfg.PortRange.From, cfg.PortRange.To = p, p+1
	s := New(cfg, testLogger(t))
	s.timing = testTiming
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	old := servingPID(t, s, "web")
	_, err := s.Reload(context.Background(), "web")
	if !errors.Is(err, ports.ErrExhausted) || !strings.Contains(err.Error(), "still serves") {
		t.Fatalf("reload = %v", err)
	}
	if pid, err := ask(t, s, "web"); err != nil || pid != old {
		t.Errorf("after the failed reload: %d %v; want %d", pid, err, old)
	}
}

// startInBackground runs s.Start in a goroutine (it blocks until first
// instances are ready). The returned func cancels Start and waits for it to
// return; cleanup does the same, then shuts s down.
func startInBackground(t *testing.T, s *Supervisor) func() {
	startCtx, cancel := context.WithCancel(context.Background())
	started := make(chan error, 1)
	go func() { started <- s.Start(startCtx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		<-started
	})
	t.Cleanup(func() {
		stop()
		s.Shutdown(context.Background())
	})
	return stop
}
