package ports

import (
	"net"
	"strconv"
	"testing"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Windows are picked above the kernel's ephemeral range (32768-60999 by
// default), where only explicit binds land, so other tests on the machine
// (whose client sockets and :0 listeners use ephemeral ports) rarely collide.
const (
	windowLow  = 61000
	windowHigh = 65535
)

// freeWindow returns the start of n consecutive ports in the window range
// that are all free on 127.0.0.1 right now.
func freeWindow(t *testing.T, n int) int {
	t.Helper()
	return testutil.FreePorts(t, windowLow, windowHigh, n)
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", itoa(port)) }

func itoa(n int) string { return strconv.Itoa(n) }

// listenOn holds port on host like a foreign program would, until the test ends.
func listenOn(t *testing.T, host string, port int) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("foreign listener on %s:%d: %v", host, port, err)
	}
	t.Cleanup(func() { l.Close() })
}

// mustAcquire acquires on 127.0.0.1 and fails the test on error.
func mustAcquire(t *testing.T, a *Allocator) int {
	t.Helper()
	p, err := a.Acquire("127.0.0.1")
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return p
}
