package procs

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/ports"
)

// The app loop: start after stop, an exit racing readiness, status of a
// busy loop, health checkers, the backend address, shutdown.

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

// A client of an app started again after stop waits for the new
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

// An exit handled before a "ready" report that came from a probe
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

// Shutdown does not wait drain_timeout for an idle keep-alive
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

// Status and metrics do not wait for a busy loop.
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

// Restarting health checks of a member ends the earlier ones.
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

// Connections dial the IP the readiness probe reached, not
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
