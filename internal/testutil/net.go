package testutil

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// FreeAddr returns a 127.0.0.1:port address that nothing listened on a
// moment ago (the kernel picked the port), for a server the test starts
// itself or for a dial that must be refused.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// PortFree reports whether port can be bound on 127.0.0.1 right now.
func PortFree(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// FreePorts returns the first of n consecutive ports in [lo, hi) that are
// all free on 127.0.0.1 right now. It tries random windows, skipping any
// with a busy port, and fails the test when 100 tries found none.
func FreePorts(t testing.TB, lo, hi, n int) int {
	t.Helper()
	for range 100 {
		base := lo + rand.IntN(hi-lo-n+1)
		if portsFree(base, n) {
			return base
		}
	}
	t.Fatalf("no window of %d free ports found in %d-%d", n, lo, hi)
	return 0
}

func portsFree(base, n int) bool {
	for p := base; p < base+n; p++ {
		if !PortFree(p) {
			return false
		}
	}
	return true
}

// Refused reports whether a connection to addr fails (within a second).
func Refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// Dial connects to addr within 5 s, fails the test if it cannot, and
// closes the connection at cleanup.
func Dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// StuckClients connects n clients to addr (an echo service, directly or
// through a proxy). Each sends size bytes of lines and never reads, with a
// small receive buffer, so the echoed bytes fill its window and both
// directions of the link block. It returns the connections; they are
// closed, and their writers ended, at cleanup.
func StuckClients(t testing.TB, addr string, n, size int) []*net.TCPConn {
	t.Helper()
	payload := bytes.Repeat([]byte("0123456789abcdef\n"), size/17)
	conns := make([]*net.TCPConn, n)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		wg.Wait()
	})
	for i := range conns {
		c := Dial(t, addr)
		c.SetReadBuffer(4 << 10) // a small window fills fast
		conns[i] = c
		wg.Add(1)
		go writeUnread(&wg, c, payload)
	}
	return conns
}

// writeUnread writes payload to c, which may block until c is closed.
func writeUnread(wg *sync.WaitGroup, c net.Conn, payload []byte) {
	defer wg.Done()
	c.SetWriteDeadline(time.Now().Add(2 * time.Minute))
	c.Write(payload)
}

// EchoLine sends a line on c and expects it back (from an echo service,
// directly or through a proxy) within d. It reads no byte past the line.
func EchoLine(c net.Conn, d time.Duration) error {
	c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	const line = "ping\n"
	if _, err := io.WriteString(c, line); err != nil {
		return err
	}
	got := make([]byte, 0, len(line))
	b := make([]byte, 1)
	for len(got) == 0 || got[len(got)-1] != '\n' {
		n, err := c.Read(b)
		got = append(got, b[:n]...)
		if err != nil {
			return fmt.Errorf("echoed %q: %w", got, err)
		}
	}
	if string(got) != line {
		return fmt.Errorf("echoed %q, want %q", got, line)
	}
	return nil
}

// Echoes reports, as nil, that a new client at addr gets a line echoed
// within d.
func Echoes(addr string, d time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return err
	}
	defer c.Close()
	return EchoLine(c, d)
}
