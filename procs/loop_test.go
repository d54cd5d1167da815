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
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/ports"
)

// The app loop: start after stop, the backend address, ports running out,
// shutdown. (Races of the loop are in lifecycle_test.go, with a fake OS.)

// viewOf is the app's last status snapshot, with what the loop published
// beside it.
func viewOf(t *testing.T, s *Supervisor, name string) *statusView {
	t.Helper()
	a, err := s.lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return a.view.Load()
}

func waitState(t *testing.T, s *Supervisor, name string, want AppState) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, string(want), func() bool { return status(t, s, name).State == want })
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
	if testutil.Alive(pid) {
		t.Error("instance outlived shutdown")
	}
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
	addr := viewOf(t, s, "web").backends[0][0].Addr()
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
	p := testutil.FreePorts(t, 22500, 22900, 1)
	app := testApp(t, "web", modeHTTP)
	app.MaxRetries = 1
	cfg := testConfig(app)
	cfg.PortRange.From, cfg.PortRange.To = p, p+1
	s := New(cfg, testLogger(t))
	s.d.timing = testTiming
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
