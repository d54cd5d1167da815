package l4proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if mode := testutil.ChildMode(); mode != "" {
		os.Exit(childMain(mode))
	}
	goleak.VerifyTestMain(m)
}

// server is a real backend on 127.0.0.1:0 that runs handle for every
// accepted connection and records what it accepted.
type server struct {
	ln       net.Listener
	handle   func(net.Conn)
	watch    *Backend     // if set, accepts after watch.Drained() are counted as violations
	accepted atomic.Int64 // connections accepted
	late     atomic.Int64 // connections accepted after watch was drained
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

func newServer(t testing.TB, handle func(net.Conn)) *server {
	t.Helper()
	return newWatchedServer(t, handle, false)
}

// newWatchedServer is newServer; with watch it also creates the server's
// Backend (s.watch) and counts accepts that happen after it drained.
func newWatchedServer(t testing.TB, handle func(net.Conn), watch bool) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &server{ln: ln, handle: handle, conns: make(map[net.Conn]struct{})}
	if watch {
		s.watch = NewBackend(s.addr())
	}
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.close)
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		if s.watch != nil && testutil.Closed(s.watch.Drained()) {
			s.late.Add(1)
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	s.handle(c)
}

// close stops the server, closes its open connections and waits for them.
func (s *server) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// echo copies everything back and forwards the half-close.
func echo(c net.Conn) {
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
}

// named greets with its name, then echoes.
func named(name string) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := io.WriteString(c, name+"\n"); err != nil {
			return
		}
		echo(c)
	}
}

// startProxy serves p on a fresh loopback listener and shuts it down (and
// checks Serve's result) at cleanup.
func startProxy(t testing.TB, p *Proxy) string {
	t.Helper()
	ln, err := p.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve returned %v, want nil", err)
		}
	})
	return ln.Addr().String()
}

// readLine reads one line within d.
func readLine(c net.Conn, d time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	var line []byte
	buf := make([]byte, 1)
	for {
		n, err := c.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return string(line), nil
			}
			line = append(line, buf[0])
		}
		if err != nil {
			return string(line), err
		}
	}
}

// greetingAsync connects through addr in the background and sends the
// backend's name line (or the error that came instead) on the channel.
func greetingAsync(addr string) <-chan string {
	got := make(chan string, 1)
	go func() {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		line, err := readLine(c, 5*time.Second)
		if err != nil {
			line = err.Error()
		}
		got <- line
	}()
	return got
}

// greeting connects through addr and returns the backend's name line.
func greeting(t testing.TB, addr string) (*net.TCPConn, string) {
	t.Helper()
	c := testutil.Dial(t, addr)
	name, err := readLine(c, 5*time.Second)
	if err != nil {
		t.Fatalf("read greeting: %v", err)
	}
	return c, name
}

// roundTrip sends msg and expects it echoed back.
func roundTrip(c net.Conn, msg string) error {
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return err
	}
	got, err := readLine(c, 5*time.Second)
	if err != nil {
		return err
	}
	if got != msg {
		return errors.New("echo mismatch: got " + got)
	}
	return nil
}

// expectClosed waits up to d for c to be closed by the proxy (EOF or reset)
// and returns how long that took.
func expectClosed(t testing.TB, c net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(d))
	_, err := bufio.NewReader(c).ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", d)
	}
	if err == nil {
		t.Fatalf("got data, want close")
	}
	return time.Since(start)
}

// waitDrained waits for b's drained gate.
func waitDrained(t testing.TB, b *Backend, d time.Duration) {
	t.Helper()
	select {
	case <-b.Drained():
	case <-time.After(d):
		t.Fatalf("backend %s not drained after %v (conns %d)", b.Addr(), d, b.Conns())
	}
}
