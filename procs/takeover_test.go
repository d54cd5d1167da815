package procs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// keptConn is one HTTP/1.1 connection reused for several requests.
type keptConn struct {
	c net.Conn
	r *bufio.Reader
}

func keepConn(t *testing.T, addr string) *keptConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keptConn{c: c, r: bufio.NewReader(c)}
}

// get asks for / and returns the status, keeping the connection open.
func (k *keptConn) get() (int, error) {
	k.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(k.c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// TestHandoverLetsOpenConnectionsFinish: after Handover the listener
// accepts nothing more at once, a connection already open keeps being
// served, and the instance is stopped only once it has closed.
func TestHandoverLetsOpenConnectionsFinish(t *testing.T) {
	s := startSupervisor(t, testApp(t, "web", modeHTTP))
	addr, pid := status(t, s, "web").External, servingPID(t, s, "web")
	kept := keepConn(t, addr)
	if code, err := kept.get(); err != nil || code != 200 {
		t.Fatalf("first request: %d %v", code, err)
	}
	if n := s.OpenConnections(); n != 1 {
		t.Fatalf("OpenConnections = %d, want 1", n)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- s.Handover(ctx)
	}()
	testutil.Eventually(t, 5*time.Second, "the listener to be closed", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if code, err := kept.get(); err != nil || code != 200 {
		t.Fatalf("request on the open connection during the handover: %d %v", code, err)
	}
	select {
	case err := <-done:
		t.Fatalf("Handover returned (%v) with a connection open", err)
	default:
	}
	kept.c.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Handover still waits after the last connection closed")
	}
	if testutil.Alive(pid) {
		t.Fatalf("instance %d still runs after Handover", pid)
	}
}

// TestTakeOverAcceptsOnceServing: a daemon taking over gets its listeners
// from the hook, and its apps accept nothing until they serve (clients stay
// queued for whoever else holds the socket); Start then succeeds and the
// queued client is served.
func TestTakeOverAcceptsOnceServing(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	app := testApp(t, "web", modeHTTP, envGateFile+"="+gate)
	var mu sync.Mutex
	var asked []string
	s := New(testConfig(app), testLogger(t))
	s.d.timing = testTiming
	s.TakeOver(func(addr string, listen func() (net.Listener, error)) (net.Listener, error) {
		mu.Lock()
		asked = append(asked, addr)
		mu.Unlock()
		return listen()
	})
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	started := make(chan error, 1)
	go func() { started <- s.Start(context.Background()) }()
	testutil.Eventually(t, 5*time.Second, "the listener", func() bool { return !strings.HasSuffix(status(t, s, "web").External, ":0") })
	addr := status(t, s, "web").External
	early := keepConn(t, addr) // the handshake completes in the kernel's backlog
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if m, _ := s.Metrics("web"); m[0].Traffic.Accepted != 0 {
			t.Fatal("the listener accepted before the app served")
		}
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	if code, err := early.get(); err != nil || code != 200 {
		t.Fatalf("the early client: %d %v", code, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || asked[0] != app.ExternalAddr() {
		t.Fatalf("listen hook asked for %v, want [%s]", asked, app.ExternalAddr())
	}
}

// TestTakeOverStartFailsWithTheApp: a daemon taking over must not serve
// with an app missing, so Start fails naming the app.
func TestTakeOverStartFailsWithTheApp(t *testing.T) {
	s := New(testConfig(testApp(t, "broken", modeCrash)), testLogger(t))
	s.d.timing = testTiming
	s.TakeOver(func(_ string, listen func() (net.Listener, error)) (net.Listener, error) { return listen() })
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	err := s.Start(context.Background())
	if !errors.Is(err, errFirstStart) || !strings.Contains(err.Error(), "broken:") {
		t.Fatalf("Start = %v, want the app's first-start failure", err)
	}
}
