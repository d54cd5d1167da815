package testutil

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLockedBufferConcurrentWrites(t *testing.T) {
	var b LockedBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { io.WriteString(&b, "x") })
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("x", 8) {
		t.Fatalf("String = %q", got)
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	if !WaitFor(time.Second, func() bool { n++; return n == 3 }) || n != 3 {
		t.Fatalf("WaitFor: cond called %d times, want 3", n)
	}
	start := time.Now()
	if WaitFor(30*time.Millisecond, func() bool { return false }) {
		t.Fatal("WaitFor reported a condition that never held")
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("WaitFor gave up after %v, before its timeout", d)
	}
}

func TestFreeAddrAndPorts(t *testing.T) {
	if !Refused(FreeAddr(t)) {
		t.Error("FreeAddr's address accepts connections")
	}
	base := FreePorts(t, 61000, 65535, 3)
	for p := base; p < base+3; p++ {
		if !PortFree(p) {
			t.Errorf("port %d of FreePorts' window is busy", p)
		}
	}
}

// StuckClients' writers end at cleanup (goleak checks), and a fresh client
// of the same echo server is still answered.
func TestStuckClientsAndEchoes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() { echoServer(ln, &wg) })
	addr := ln.Addr().String()
	t.Run("stuck", func(t *testing.T) {
		if got := len(StuckClients(t, addr, 3, 1<<20)); got != 3 {
			t.Fatalf("%d clients, want 3", got)
		}
		if err := Echoes(addr, 5*time.Second); err != nil {
			t.Fatalf("Echoes: %v", err)
		}
	})
}

func echoServer(ln net.Listener, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Go(func() { defer c.Close(); io.Copy(c, c) })
	}
}

func TestClosed(t *testing.T) {
	ch := make(chan struct{})
	if Closed(ch) {
		t.Fatal("open channel reported closed")
	}
	close(ch)
	if !Closed(ch) {
		t.Fatal("closed channel reported open")
	}
}

func TestChildEnviron(t *testing.T) {
	t.Setenv(ChildEnv, "")
	if ChildMode() != "" {
		t.Fatal("ChildMode set in a test run")
	}
	if env := ChildEnviron("m"); env[0] != ChildEnv+"=m" {
		t.Fatalf("ChildEnviron = %q", env)
	}
}
