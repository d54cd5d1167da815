package l4proxy

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
)

func TestListenError(t *testing.T) {
	p := &Proxy{}
	ln, err := p.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := p.Listen(context.Background(), ln.Addr().String()); err == nil {
		t.Fatal("second Listen on the same address succeeded")
	} else if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("error %v does not wrap EADDRINUSE", err)
	}
}

// TestBackendLoopback: keepalive is skipped only for loopback backends.
func TestBackendLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:10001":  true,
		"127.3.2.1:10001":  true,
		"[::1]:10001":      true,
		"localhost:10001":  true,
		"LocalHost:10001":  true,
		"10.0.0.5:10001":   false,
		"app.internal:80":  false,
		"[2001:db8::1]:80": false,
	} {
		if got := NewBackend(addr).loopback; got != want {
			t.Errorf("NewBackend(%q).loopback = %v, want %v", addr, got, want)
		}
	}
}

func sockoptInt(t *testing.T, c net.Conn, level, opt int) int {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), level, opt) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}
