//go:build !l4proxy_portable

package l4proxy

import (
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// TestSpliceUsed checks that the copy path is splice(2) and that pipes are
// held only while bytes move: the proxy child has extra pipes while a bulk
// transfer runs (it creates pipes only for splice), and none once the link
// is idle, though it stays open.
func TestSpliceUsed(t *testing.T) {
	srv := newServer(t, echo)
	child := startProxyChild(t, srv.addr(), "")
	pid := child.cmd.Process.Pid
	before := countPipes(t, pid)
	c := testutil.Dial(t, child.addr)
	const size = 64 << 20
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Write(make([]byte, size))
	}()
	echoed := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, c, size)
		echoed <- err
	}()
	sawPipes := false
	for !sawPipes {
		select {
		case <-done:
			t.Fatalf("64 MiB went through without the proxy holding a pipe (had %d before)", before)
		default:
		}
		sawPipes = countPipes(t, pid) > before
	}
	if err := <-echoed; err != nil {
		t.Fatalf("echo: %v", err)
	}
	testutil.Eventually(t, 3*time.Second, "no pipe held by an idle open link", func() bool { return countPipes(t, pid) == before })
	if err := roundTrip(c, "still open"); err != nil {
		t.Fatal(err)
	}
}

// TestPipesReleasedAfterFlood is issue 18's repro: after thousands of
// connect-and-close connections, with none open, the process must not keep
// their pipes (Go's splice pool kept thousands until a garbage collection).
func TestPipesReleasedAfterFlood(t *testing.T) {
	srv := newServer(t, func(c net.Conn) { // no io.Copy: Go would splice, with pipes of its own
		line, _ := readLine(c, 5*time.Second)
		io.WriteString(c, line+"\n")
	})
	p := &Proxy{}
	p.Switch(NewBackend(srv.addr()))
	addr := startProxy(t, p)
	before := countPipes(t, os.Getpid())
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 250 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				io.WriteString(c, "ping\n")
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, c)
				c.Close()
			}
		}()
	}
	wg.Wait()
	testutil.Eventually(t, 5*time.Second, "no connection open", func() bool { return p.Stats().Active == 0 })
	start := time.Now()
	testutil.Eventually(t, 3*time.Second, "pipes closed", func() bool { return countPipes(t, os.Getpid()) <= before })
	t.Logf("pipes back to %d within %v of the last connection", before, time.Since(start).Round(time.Millisecond))
}

// TestIdleLinksHoldNoGoroutine: once dialed, a link belongs to an event
// loop; an open idle connection keeps no goroutine of the proxy's.
func TestIdleLinksHoldNoGoroutine(t *testing.T) {
	if loopsDisabled {
		t.Skip(DataPlaneEnv + "=goroutines")
	}
	srv := newServer(t, echo)
	p := &Proxy{}
	p.Switch(NewBackend(srv.addr()))
	addr := startProxy(t, p)
	const n = 100
	for range n {
		c := testutil.Dial(t, addr)
		if err := roundTrip(c, "hi"); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 5*time.Second, "no proxy goroutine per connection", func() bool {
		buf := make([]byte, 1<<22)
		stacks := string(buf[:runtime.Stack(buf, true)])
		return !strings.Contains(stacks, "l4proxy.(*Proxy).serveTracked") && !strings.Contains(stacks, "l4proxy.copyToClient")
	})
	if st := p.Stats(); st.Active != n {
		t.Fatalf("active %d, want %d", st.Active, n)
	}
}
