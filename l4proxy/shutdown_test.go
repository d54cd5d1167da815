package l4proxy

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// serveAsync runs p.Serve on a fresh listener and returns its address and
// Serve's result channel; the caller shuts p down.
func serveAsync(t *testing.T, p *Proxy) (string, <-chan error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(ln) }()
	return ln.Addr().String(), done
}

// TestShutdownWaits: Shutdown stops accepting, waits for the open
// connection, and returns nil once it closes.
func TestShutdownWaits(t *testing.T) {
	srv := newServer(t, named("s"))
	p := &Proxy{}
	p.Switch(NewBackend(srv.addr()))
	addr, served := serveAsync(t, p)
	c, _ := greeting(t, addr)

	shut := make(chan error, 1)
	go func() { shut <- p.Shutdown(context.Background()) }()
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v, want nil", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("listener still accepts after Shutdown")
	}
	if err := roundTrip(c, "open conn keeps working"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a connection open", err)
	case <-time.After(100 * time.Millisecond):
	}
	c.Close()
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the last connection closed")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := p.Serve(ln); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Serve after Shutdown = %v, want ErrShutdown", err)
	}
}

// TestShutdownDeadline: when ctx ends first, open and waiting connections
// are closed and Shutdown returns ctx.Err().
func TestShutdownDeadline(t *testing.T) {
	srv := newServer(t, named("s"))
	b := NewBackend(srv.addr())
	p := &Proxy{}
	p.Switch(b)
	addr, served := serveAsync(t, p)
	open, _ := greeting(t, addr)

	p.Switch(nil)
	waiting := testutil.Dial(t, addr)
	testutil.Eventually(t, 5*time.Second, "client waiting", func() bool { return p.Stats().Waited == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	expectClosed(t, open, 5*time.Second)
	expectClosed(t, waiting, 5*time.Second)
	waitDrained(t, b, 5*time.Second)
	if st := p.Stats(); st.Active != 0 {
		t.Fatalf("active %d after Shutdown", st.Active)
	}
}

// TestListenerClosedElsewhere: closing the listener under Serve returns an
// error wrapping net.ErrClosed, and open connections keep running.
func TestListenerClosedElsewhere(t *testing.T) {
	srv := newServer(t, named("s"))
	p := &Proxy{}
	p.Switch(NewBackend(srv.addr()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	c, _ := greeting(t, ln.Addr().String())
	ln.Close()
	if err := <-served; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve = %v, want net.ErrClosed", err)
	}
	if err := roundTrip(c, "still open"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.AcceptErrors != 0 {
		t.Fatalf("AcceptErrors = %d after a deliberate close", st.AcceptErrors)
	}
}
