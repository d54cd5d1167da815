package l4proxy

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

func TestRaiseFileLimit(t *testing.T) {
	cmd := testutil.ChildCommand(t, "raise")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
}

// TestFileDescriptorExhaustion runs the proxy in a child limited to 32
// descriptors (room for a handful of connections at six each), overloads
// it, and checks that accept keeps working once the connections close.
func TestFileDescriptorExhaustion(t *testing.T) {
	srv := newServer(t, echo)
	child := startProxyChild(t, srv.addr(), "32")
	addr := child.addr

	served, conns := overload(addr, 40)
	t.Logf("phase 1: %d of %d clients served under the limit", served, len(conns))
	if served == 0 || served == len(conns) {
		t.Errorf("%d of %d served; want some but not all", served, len(conns))
	}
	for _, c := range conns {
		c.Close()
	}

	// Service resumes: fresh clients are served again.
	for i := range 5 {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := testutil.Echoes(addr, 2*time.Second)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("client %d after recovery: %v\nchild log:\n%s", i, err, child.stderr.String())
			}
		}
	}

	active, accepted, acceptErrs, err := child.stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("child: accepted %d, accept errors %d", accepted, acceptErrs)
	if active != 0 || acceptErrs == 0 {
		t.Fatalf("active %d, accept errors %d; want 0 and >0 (limit never hit?)", active, acceptErrs)
	}
}

// overload opens n clients at once, each trying one echo round trip, and
// returns how many were served. The connections are left open.
func overload(addr string, n int) (served int, conns []net.Conn) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return
			}
			ok := testutil.EchoLine(c, 1500*time.Millisecond) == nil
			mu.Lock()
			defer mu.Unlock()
			conns = append(conns, c)
			if ok {
				served++
			}
		}()
	}
	wg.Wait()
	return served, conns
}
