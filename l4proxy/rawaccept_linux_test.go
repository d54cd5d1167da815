//go:build !l4proxy_portable

package l4proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"golang.org/x/sys/unix"
)

// serveAdopted serves a listener from net.Listen through Adopt (proxying
// to a server greeting "s") and returns the proxy, the listener under it,
// the adopted one and Serve's result.
func serveAdopted(t *testing.T) (*Proxy, *net.TCPListener, net.Listener, <-chan error) {
	srv := newServer(t, named("s"))
	p := &Proxy{}
	p.Switch(NewBackend(srv.addr()))
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Adopt(inner)
	if _, ok := ln.(*proxyListener); !ok {
		t.Fatalf("Adopt returned %T", ln)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	return p, inner.(*net.TCPListener), ln, served
}

// waitServeClosed waits for Serve to return net.ErrClosed.
func waitServeClosed(t *testing.T, served <-chan error) {
	t.Helper()
	select {
	case err := <-served:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Serve = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still running 5 s after its listener stopped listening")
	}
}

// TestAdoptedListener: a listener from net.Listen given to Adopt is served
// (accepted by the loops), and closing it makes the port refuse at once
// and Serve return net.ErrClosed, though the loops wait on a duplicate of
// its socket; open connections keep running.
func TestAdoptedListener(t *testing.T) {
	p, _, ln, served := serveAdopted(t)
	c, name := greeting(t, ln.Addr().String())
	if name != "s" {
		t.Fatalf("greeting %q", name)
	}
	ln.Close()
	waitServeClosed(t, served)
	if d, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		d.Close()
		t.Fatal("the closed listener's port still accepts")
	}
	if err := roundTrip(c, "still open"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestAdoptLeavesOtherListeners: a listener without a TCP socket is
// returned as it is, and Serve accepts from it with Accept.
func TestAdoptLeavesOtherListeners(t *testing.T) {
	ln, err := net.Listen("unix", t.TempDir()+"/s")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := Adopt(ln); got != ln {
		t.Fatalf("Adopt(unix listener) = %T, want it unchanged", got)
	}
}

// TestListenedClosedByOwnerStopsListening: closing a listener from Listen
// (not Shutdown) stops the port at once, though the loops wait on a duplicate
// of its socket.
func TestListenedClosedByOwnerStopsListening(t *testing.T) {
	srv := newServer(t, named("s"))
	p := &Proxy{}
	p.Switch(NewBackend(srv.addr()))
	ln, err := p.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	c, _ := greeting(t, ln.Addr().String())
	c.Close()
	ln.Close()
	if d, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		d.Close()
		t.Fatal("the closed listener's port still accepts")
	}
	if err := <-served; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve = %v, want net.ErrClosed", err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// blackhole returns the address of a listening socket whose accept queue
// is full and never accepted from: the kernel drops further SYNs, so a
// connect to it neither succeeds nor fails until it times out.
func blackhole(t *testing.T) string {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port}).String()
	// Fill the queue (a backlog of 0 holds one connection, sometimes two).
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
		if i == 10 {
			t.Skip("the kernel keeps accepting into a full backlog")
		}
	}
	return addr
}

// TestLoopDialTimeoutMovesOn: a connect the loop started that does not
// finish within DialTimeout is given up, the client goes on to the other
// backend of the set, and the count on the unresponsive one goes back to
// zero.
func TestLoopDialTimeoutMovesOn(t *testing.T) {
	hole := NewBackend(blackhole(t))
	live := NewBackend(newServer(t, named("live")).addr())
	p := &Proxy{DialTimeout: 300 * time.Millisecond, ConnectTimeout: 5 * time.Second}
	p.SwitchSet([]*Backend{hole, live})
	addr := startProxy(t, p)
	for i := range 4 { // ties taken in turn: some go to the hole first
		start := time.Now()
		c, name := greeting(t, addr)
		c.Close()
		if name != "live" {
			t.Fatalf("client %d reached %q", i, name)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("client %d took %v", i, d)
		}
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return hole.Conns() == 0 && live.Conns() == 0 }) {
		t.Fatalf("counts hole %d, live %d; want 0", hole.Conns(), live.Conns())
	}
	if hole.Served() != 0 {
		t.Fatalf("the unresponsive backend carried %d connections", hole.Served())
	}
}

// TestAdoptedListenerShutDownUnderneath: the wrapped listener's socket is
// shut down and closed without the adopted listener's Close (what the
// upgrader's Close does while its daemon serves): the loops see it stop
// listening, and Serve returns net.ErrClosed.
func TestAdoptedListenerShutDownUnderneath(t *testing.T) {
	p, inner, ln, served := serveAdopted(t)
	c, _ := greeting(t, ln.Addr().String())
	c.Close()
	rc, err := inner.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_RD) })
	inner.Close()
	waitServeClosed(t, served)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestNoDescriptorForTheBackend: a client the loop accepts when no
// descriptor is left for its backend socket is not dropped: it goes to a
// goroutine, which waits for a descriptor (fdConn's backoff) and serves it
// once there are descriptors again. It runs in a child process, whose
// descriptors no earlier test left to be freed later (Go's splice pipes
// close when the garbage collector gets to them).
func TestNoDescriptorForTheBackend(t *testing.T) {
	if loopsDisabled {
		t.Skip("the event loops are off (" + DataPlaneEnv + ")")
	}
	if out, err := testutil.ChildCommand(t, "nodescriptor").CombinedOutput(); err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
}

func init() { childModes["nodescriptor"] = childNoDescriptor }

// childNoDescriptor is TestNoDescriptorForTheBackend's child.
func childNoDescriptor() error {
	t := exitOnFail{}
	// Greets and reads, without io.Copy: Go's splice would leave pipes
	// that close later, making room the limit below does not count on.
	srv := newServer(t, func(c net.Conn) {
		io.WriteString(c, "s\n")
		io.Copy(io.Discard, c)
	})
	p := &Proxy{}
	p.Switch(NewBackend(srv.addr()))
	addr := startProxy(t, p)
	c0, _ := greeting(t, addr) // the loops run
	c0.Close()
	testutil.Eventually(t, 5*time.Second, "the first connection's descriptors to close", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return p.Stats().Active == 0 && len(srv.conns) == 0
	})

	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	// Room for the client's socket and the accepted one, nothing more:
	// the limit bounds descriptor numbers, and the two lowest free ones
	// are what two placeholders get.
	var holes [2]*os.File
	for i := range holes {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return err
		}
		holes[i] = f
	}
	low := lim
	low.Cur = uint64(max(holes[0].Fd(), holes[1].Fd()) + 1)
	holes[0].Close()
	holes[1].Close()
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		return fmt.Errorf("lower the descriptor limit: %w", err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	testutil.Eventually(t, 5*time.Second, "the client to wait for a descriptor", func() bool {
		buf := make([]byte, 1<<22)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "l4proxy.(*Proxy).fdConn")
	})
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if name, err := readLine(c, 5*time.Second); err != nil || name != "s" {
		return fmt.Errorf("greeting %q, %v; want s", name, err)
	}
	return nil
}
