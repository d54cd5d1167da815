package l4proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

const bulkSize = 64 << 20

// bulkStream writes size bytes of seeded pseudo-random data to w; every
// 1 MiB block carries its index so misordered blocks change the hash.
func bulkStream(w io.Writer, seed uint64, size int) ([32]byte, error) {
	block := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(block)
	h := sha256.New()
	for i := 0; i < size/len(block); i++ {
		binary.LittleEndian.PutUint64(block, uint64(i))
		h.Write(block)
		if _, err := w.Write(block); err != nil {
			return [32]byte{}, err
		}
	}
	return [32]byte(h.Sum(nil)), nil
}

func sha(r io.Reader) ([32]byte, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return [32]byte(h.Sum(nil)), n, err
}

type bulkResult struct {
	got  [32]byte
	n    int64
	sent [32]byte
	err  error
}

// TestBulkBothWays sends 64 MiB each way at the same time and compares
// SHA-256 digests on both ends, then checks the byte counters.
func TestBulkBothWays(t *testing.T) {
	results := make(chan bulkResult, 1)
	srv := newServer(t, func(c net.Conn) {
		var r bulkResult
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.sent, r.err = bulkStream(c, 2, bulkSize)
			c.(*net.TCPConn).CloseWrite()
		}()
		r.got, r.n, _ = sha(c)
		wg.Wait()
		results <- r
	})
	p := &Proxy{}
	p.Switch(NewBackend(srv.addr()))
	c := testutil.Dial(t, startProxy(t, p))

	sentc := make(chan bulkResult, 1)
	go func() {
		var r bulkResult
		r.sent, r.err = bulkStream(c, 1, bulkSize)
		c.CloseWrite()
		sentc <- r
	}()
	got, n, err := sha(c)
	if err != nil || n != bulkSize {
		t.Fatalf("client read %d bytes, err %v; want %d", n, err, bulkSize)
	}
	sent := <-sentc
	if sent.err != nil {
		t.Fatalf("client write: %v", sent.err)
	}
	srvRes := <-results
	if srvRes.err != nil || srvRes.n != bulkSize || srvRes.got != sent.sent {
		t.Fatalf("backend got %d bytes (err %v), digest match %v", srvRes.n, srvRes.err, srvRes.got == sent.sent)
	}
	if got != srvRes.sent {
		t.Fatal("client digest differs from what the backend sent")
	}
	c.Close()
	testutil.Eventually(t, 5*time.Second, "connection to end", func() bool { return p.Stats().Active == 0 })
	st := p.Stats()
	if st.BytesIn != bulkSize || st.BytesOut != bulkSize || st.Accepted != 1 || st.Failed != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// TestHalfClose: the client's CloseWrite reaches the backend as EOF and the
// backend can still answer; and the reverse.
func TestHalfClose(t *testing.T) {
	t.Run("client first", func(t *testing.T) {
		srv := newServer(t, func(c net.Conn) {
			req, _ := io.ReadAll(c) // returns only on the forwarded EOF
			io.WriteString(c, "pong:"+string(req))
		})
		p := &Proxy{}
		p.Switch(NewBackend(srv.addr()))
		c := testutil.Dial(t, startProxy(t, p))
		io.WriteString(c, "ping")
		c.CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "pong:ping" {
			t.Fatalf("got %q, %v; want pong:ping", got, err)
		}
	})
	t.Run("backend first", func(t *testing.T) {
		got := make(chan string, 1)
		srv := newServer(t, func(c net.Conn) {
			io.WriteString(c, "hello")
			c.(*net.TCPConn).CloseWrite()
			b, _ := io.ReadAll(c)
			got <- string(b)
		})
		p := &Proxy{}
		p.Switch(NewBackend(srv.addr()))
		c := testutil.Dial(t, startProxy(t, p))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		hello, err := io.ReadAll(c)
		if err != nil || string(hello) != "hello" {
			t.Fatalf("got %q, %v; want hello then EOF", hello, err)
		}
		io.WriteString(c, "still here")
		c.CloseWrite()
		if s := <-got; s != "still here" {
			t.Fatalf("backend got %q", s)
		}
	})
}

// TestSwitch: open connections stay on the old backend, new ones go to the
// new one; the old one drains when its last connection closes.
func TestSwitch(t *testing.T) {
	srvA, srvB := newServer(t, named("A")), newServer(t, named("B"))
	a, b := NewBackend(srvA.addr()), NewBackend(srvB.addr())
	p := &Proxy{}
	if p.Current() != nil {
		t.Fatal("zero Proxy has a current backend")
	}
	if old := p.Switch(a); old != nil {
		t.Fatalf("first Switch returned %v", old)
	}
	addr := startProxy(t, p)
	c1, name := greeting(t, addr)
	if name != "A" || a.Conns() != 1 {
		t.Fatalf("first conn went to %q, A has %d conns", name, a.Conns())
	}
	if old := p.Switch(b); old != a || !a.Retired() || p.Current() != b {
		t.Fatalf("Switch(b) = %v, A retired %v, current %v", old, a.Retired(), p.Current())
	}
	if old := p.Switch(b); old != nil {
		t.Fatalf("Switch to the current backend returned %v", old)
	}
	c2, name := greeting(t, addr)
	if name != "B" {
		t.Fatalf("conn after switch went to %q", name)
	}
	if err := roundTrip(c1, "old conn still works"); err != nil {
		t.Fatalf("old conn after switch: %v", err)
	}
	if testutil.Closed(a.Drained()) {
		t.Fatal("A drained while it still has a connection")
	}
	c1.Close()
	waitDrained(t, a, 5*time.Second)
	if a.Conns() != 0 || b.Conns() != 1 {
		t.Fatalf("conns A=%d B=%d, want 0 and 1", a.Conns(), b.Conns())
	}
	if old := p.Switch(nil); old != b || p.Current() != nil {
		t.Fatalf("Switch(nil) = %v, current %v", old, p.Current())
	}
	if err := roundTrip(c2, "B still serves its conn"); err != nil {
		t.Fatal(err)
	}
	c2.Close()
	waitDrained(t, b, 5*time.Second)
	if srvA.accepted.Load() != 1 || srvB.accepted.Load() != 1 {
		t.Fatalf("accepted A=%d B=%d", srvA.accepted.Load(), srvB.accepted.Load())
	}
}

// TestRetireIdleBackend: a backend with no connections drains at once.
func TestRetireIdleBackend(t *testing.T) {
	p := &Proxy{}
	a := NewBackend("127.0.0.1:1")
	p.Switch(a)
	p.Switch(NewBackend("127.0.0.1:2"))
	if !testutil.Closed(a.Drained()) || a.Conns() != 0 {
		t.Fatal("idle backend not drained at once after Switch")
	}
	if a.acquire() {
		t.Fatal("a drained backend accepted a connection")
	}
}

// TestSwitchToRetiredBackend: switching back to a retired backend does not
// dial it; clients wait for a usable one.
func TestSwitchToRetiredBackend(t *testing.T) {
	srvA, srvB := newServer(t, named("A")), newServer(t, named("B"))
	a := NewBackend(srvA.addr())
	p := &Proxy{ConnectTimeout: 5 * time.Second}
	p.Switch(a)
	p.Switch(nil)
	p.Switch(a) // retired: must behave like nil
	addr := startProxy(t, p)
	go func() {
		time.Sleep(200 * time.Millisecond)
		p.Switch(NewBackend(srvB.addr()))
	}()
	if _, name := greeting(t, addr); name != "B" {
		t.Fatalf("went to %q, want B", name)
	}
	if srvA.accepted.Load() != 0 {
		t.Fatal("retired backend was dialed")
	}
}

// TestWaitForBackend: with no backend, a client waits and is served as soon
// as one is set.
func TestWaitForBackend(t *testing.T) {
	srv := newServer(t, named("late"))
	p := &Proxy{}
	addr := startProxy(t, p)
	start := time.Now()
	c := testutil.Dial(t, addr)
	if err := c.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "early request\n") // buffered by the kernel meanwhile
	time.AfterFunc(300*time.Millisecond, func() { p.Switch(NewBackend(srv.addr())) })
	name, err := readLine(c, 5*time.Second)
	if err != nil || name != "late" {
		t.Fatalf("greeting %q, %v", name, err)
	}
	echoed, err := readLine(c, 5*time.Second)
	if err != nil || echoed != "early request" {
		t.Fatalf("echo %q, %v", echoed, err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("served after %v, before the backend existed", d)
	}
	if st := p.Stats(); st.Waited != 1 || st.Failed != 0 {
		t.Fatalf("stats = %+v, want Waited 1", st)
	}
}

// TestWaitTimeout: with no backend, the client is closed cleanly (FIN, not
// reset) after ConnectTimeout.
func TestWaitTimeout(t *testing.T) {
	p := &Proxy{ConnectTimeout: 200 * time.Millisecond}
	addr := startProxy(t, p)
	start := time.Now() // before the dial: the proxy's wait starts after it, however late this goroutine runs
	c := testutil.Dial(t, addr)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err != io.EOF {
		t.Fatalf("read = %d, %v; want clean EOF", n, err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("closed after %v, want about 200ms", d)
	}
	testutil.Eventually(t, time.Second, "failed count", func() bool { return p.Stats().Failed == 1 })
}

// TestDialRetry: the backend is down (connection refused) and comes up
// 300 ms later; the client is served, and the failed dials left the count
// at zero.
func TestDialRetry(t *testing.T) {
	addr := testutil.FreeAddr(t)
	b := NewBackend(addr)
	p := &Proxy{}
	p.Switch(b)
	c := testutil.Dial(t, startProxy(t, p))
	up := make(chan *server, 1)
	time.AfterFunc(300*time.Millisecond, func() {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			up <- nil
			return
		}
		s := &server{ln: ln, handle: named("up"), conns: make(map[net.Conn]struct{})}
		s.wg.Add(1)
		go s.acceptLoop()
		up <- s
	})
	name, err := readLine(c, 5*time.Second)
	s := <-up
	if s == nil {
		t.Skip("port was taken by someone else")
	}
	defer s.close()
	if err != nil || name != "up" {
		t.Fatalf("greeting %q, %v", name, err)
	}
	if b.Conns() != 1 || s.accepted.Load() != 1 {
		t.Fatalf("conns %d, accepted %d; want 1 and 1", b.Conns(), s.accepted.Load())
	}
	c.Close()
	testutil.Eventually(t, 5*time.Second, "count back to zero", func() bool { return b.Conns() == 0 })
}

// TestDialFailsUntilTimeout: a backend that never comes up leaves the
// client closed cleanly after ConnectTimeout and the count at zero.
func TestDialFailsUntilTimeout(t *testing.T) {
	b := NewBackend(testutil.FreeAddr(t))
	var log testutil.LockedBuffer
	p := &Proxy{ConnectTimeout: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&log, nil))}
	p.Switch(b)
	c := testutil.Dial(t, startProxy(t, p))
	if d := expectClosed(t, c, 5*time.Second); d < 250*time.Millisecond {
		t.Fatalf("closed after %v, before ConnectTimeout", d)
	}
	testutil.Eventually(t, time.Second, "log line", func() bool { return strings.Contains(log.String(), "without a backend") })
	if line := log.String(); !strings.Contains(line, "connect timeout") || !strings.Contains(line, "connection refused") {
		t.Fatalf("log %q lacks the reason", line)
	}
	if st := p.Stats(); st.Failed != 1 || st.Waited != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if b.Conns() != 0 {
		t.Fatalf("count %d after failed dials", b.Conns())
	}
}

// TestRefuse: waiting clients and new clients are closed at once; the next
// Switch serves again.
func TestRefuse(t *testing.T) {
	srvA, srvB := newServer(t, named("A")), newServer(t, named("B"))
	a := NewBackend(srvA.addr())
	p := &Proxy{ConnectTimeout: 30 * time.Second}
	addr := startProxy(t, p)
	waiting := testutil.Dial(t, addr)
	testutil.Eventually(t, 5*time.Second, "client waiting", func() bool { return p.Stats().Waited == 1 })
	if old := p.Refuse(); old != nil {
		t.Fatalf("Refuse with no backend returned %v", old)
	}
	if d := expectClosed(t, waiting, 5*time.Second); d > time.Second {
		t.Fatalf("waiting client closed after %v", d)
	}
	if d := expectClosed(t, testutil.Dial(t, addr), 5*time.Second); d > time.Second {
		t.Fatalf("new client closed after %v", d)
	}
	p.Switch(a)
	held, name := greeting(t, addr)
	if name != "A" {
		t.Fatalf("after Switch went to %q", name)
	}
	if old := p.Refuse(); old != a || !a.Retired() {
		t.Fatalf("Refuse returned %v, want A retired", old)
	}
	if err := roundTrip(held, "open conns keep working"); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, testutil.Dial(t, addr), 5*time.Second)
	p.Switch(NewBackend(srvB.addr()))
	if _, name := greeting(t, addr); name != "B" {
		t.Fatalf("went to %q, want B", name)
	}
	if st := p.Stats(); st.Failed != 3 {
		t.Fatalf("failed = %d, want 3", st.Failed)
	}
}

// TestResetMidStream: a reset on either side closes the other side and the
// counts return to zero.
func TestResetMidStream(t *testing.T) {
	t.Run("client resets", func(t *testing.T) {
		backendErr := make(chan error, 1)
		srv := newServer(t, func(c net.Conn) {
			io.CopyN(io.Discard, c, 1<<20)
			io.WriteString(c, "got 1MiB\n")
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := io.Copy(io.Discard, c)
			backendErr <- err
		})
		b := NewBackend(srv.addr())
		p := &Proxy{}
		p.Switch(b)
		c := testutil.Dial(t, startProxy(t, p))
		go c.Write(make([]byte, 4<<20))
		if line, err := readLine(c, 5*time.Second); err != nil {
			t.Fatalf("%q, %v", line, err)
		}
		c.SetLinger(0)
		c.Close()
		select {
		case err := <-backendErr:
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("backend read ended with %v, want a reset", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("backend side still open after client reset")
		}
		testutil.Eventually(t, 5*time.Second, "counts to zero", func() bool { return b.Conns() == 0 && p.Stats().Active == 0 })
	})
	t.Run("backend resets", func(t *testing.T) {
		srv := newServer(t, func(c net.Conn) {
			c.Write(bytes.Repeat([]byte("x"), 1<<20))
			c.(*net.TCPConn).SetLinger(0)
		})
		b := NewBackend(srv.addr())
		p := &Proxy{}
		p.Switch(b)
		c := testutil.Dial(t, startProxy(t, p))
		wrote := make(chan error, 1)
		go func() { // unread by the backend
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, err := c.Write(make([]byte, 4<<20))
			wrote <- err
		}()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, c)
		// The reset reaches the client as a reset on its read, or, when
		// the proxy's client→backend direction met it first (the kernel
		// reports a socket's error once, and the other direction then
		// reads a plain EOF), as EOF followed by a reset on its writes.
		if err == nil {
			err = <-wrote
		}
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("client saw %v, want a reset", err)
		}
		testutil.Eventually(t, 5*time.Second, "counts to zero", func() bool { return b.Conns() == 0 && p.Stats().Active == 0 })
	})
}

// TestMaxConnections: excess clients are closed at once; a freed slot is
// reused.
func TestMaxConnections(t *testing.T) {
	srv := newServer(t, named("s"))
	p := &Proxy{MaxConnections: 2}
	p.Switch(NewBackend(srv.addr()))
	addr := startProxy(t, p)
	c1, _ := greeting(t, addr)
	greeting(t, addr)
	if d := expectClosed(t, testutil.Dial(t, addr), 5*time.Second); d > time.Second {
		t.Fatalf("excess client closed after %v", d)
	}
	c1.Close()
	testutil.Eventually(t, 5*time.Second, "slot freed", func() bool { return p.Stats().Active == 1 })
	greeting(t, addr)
	if st := p.Stats(); st.Accepted != 4 || st.Failed != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

// TestSetLimits: limits changed on a running proxy apply to new clients.
func TestSetLimits(t *testing.T) {
	srv := newServer(t, named("s"))
	p := &Proxy{MaxConnections: 1, ConnectTimeout: 5 * time.Second}
	p.Switch(NewBackend(srv.addr()))
	addr := startProxy(t, p)
	greeting(t, addr)
	if d := expectClosed(t, testutil.Dial(t, addr), 5*time.Second); d > time.Second {
		t.Fatalf("excess client closed after %v", d)
	}
	p.SetLimits(Limits{ConnectTimeout: 200 * time.Millisecond, MaxConnections: 2})
	greeting(t, addr) // a second slot now
	if d := expectClosed(t, testutil.Dial(t, addr), 5*time.Second); d > time.Second {
		t.Fatalf("third client closed after %v", d)
	}
	p.Refuse()
	p.Switch(nil) // clients wait for a backend: the new connect timeout bounds it
	start := time.Now()
	p.SetLimits(Limits{ConnectTimeout: 200 * time.Millisecond})
	if d := expectClosed(t, testutil.Dial(t, addr), 5*time.Second); d > 2*time.Second {
		t.Fatalf("waiting client closed after %v, want about 200ms", d)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("waiting client closed after %v, want about 200ms", d)
	}
}

// TestFinTimeout: a half-closed connection whose other direction stays idle
// is closed after the fin timeout; one that keeps moving bytes is not.
func TestFinTimeout(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		stop := make(chan struct{})
		srv := newServer(t, func(c net.Conn) { io.Copy(io.Discard, c); <-stop })
		t.Cleanup(func() { close(stop) }) // runs before the server's cleanup
		b := NewBackend(srv.addr())
		p := &Proxy{FinTimeout: 200 * time.Millisecond}
		p.Switch(b)
		c := testutil.Dial(t, startProxy(t, p))
		c.CloseWrite()
		d := expectClosed(t, c, 5*time.Second)
		if d < 200*time.Millisecond || d > 2*time.Second {
			t.Fatalf("closed after %v; want FinTimeout to 2×FinTimeout (200-400ms) plus scheduling", d)
		}
		testutil.Eventually(t, 5*time.Second, "count to zero", func() bool { return b.Conns() == 0 })
	})
	t.Run("stalled reader", func(t *testing.T) {
		// The backend has finished sending and stops reading; the client
		// keeps sending until the buffers are full. No byte moves, so the
		// fin timeout must end the connection.
		stop := make(chan struct{})
		srv := newServer(t, func(c net.Conn) { c.(*net.TCPConn).CloseWrite(); <-stop })
		t.Cleanup(func() { close(stop) })
		b := NewBackend(srv.addr())
		p := &Proxy{FinTimeout: 200 * time.Millisecond}
		p.Switch(b)
		c := testutil.Dial(t, startProxy(t, p))
		wrote := make(chan error, 1)
		go func() {
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, err := c.Write(make([]byte, 256<<20))
			wrote <- err
		}()
		if err := <-wrote; !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("client write ended with %v, want a reset by the fin timeout", err)
		}
		testutil.Eventually(t, 5*time.Second, "count to zero", func() bool { return b.Conns() == 0 })
	})
	t.Run("active", func(t *testing.T) {
		srv := newServer(t, func(c net.Conn) {
			io.Copy(io.Discard, c)
			for i := range 8 {
				time.Sleep(100 * time.Millisecond)
				io.WriteString(c, strings.Repeat("z", i+1))
			}
		})
		p := &Proxy{FinTimeout: 200 * time.Millisecond}
		p.Switch(NewBackend(srv.addr()))
		c := testutil.Dial(t, startProxy(t, p))
		c.CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || len(got) != 36 {
			t.Fatalf("got %d bytes, %v; want 36 and EOF", len(got), err)
		}
	})
}

// TestBackendSharedByTwoProxies: one server's Backend is the target of two
// proxies (an app's old and new listener). Its count is the total of both;
// a Switch away on one proxy retires it for both, and the other proxy's new
// clients then wait for their own Switch instead of reaching it.
func TestBackendSharedByTwoProxies(t *testing.T) {
	srv, next := newServer(t, named("shared")), newServer(t, named("next"))
	b := NewBackend(srv.addr())
	p1, p2 := &Proxy{}, &Proxy{ConnectTimeout: 5 * time.Second}
	p1.Switch(b)
	p2.Switch(b)
	addr1, addr2 := startProxy(t, p1), startProxy(t, p2)
	greeting(t, addr1)
	greeting(t, addr2)
	if n, served := b.Conns(), b.Served(); n != 2 || served != 2 {
		t.Fatalf("shared backend counts %d open, %d served; want 2, 2", n, served)
	}
	p1.Switch(NewBackend(next.addr()))
	if !b.Retired() {
		t.Fatal("switching away on one proxy did not retire the shared backend")
	}
	got := greetingAsync(addr2)
	testutil.Eventually(t, 5*time.Second, "the client to wait", func() bool { return p2.Stats().Waited == 1 })
	p2.Switch(NewBackend(next.addr()))
	if name := <-got; name != "next" {
		t.Fatalf("waiting client went to %q, want next", name)
	}
	if n := srv.accepted.Load(); n != 2 {
		t.Fatalf("retired shared backend accepted %d connections, want 2", n)
	}
}
