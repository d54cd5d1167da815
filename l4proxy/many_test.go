package l4proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"go.uber.org/goleak"
)

// How the two ends of one connection in TestManyConnections behave.
type manyPlan struct {
	up, down int // bytes client → backend (after the 8-byte id) and back
	order    int // which side half-closes first: one of the order constants
	abort    int // none, or which side resets the connection midway
	abortAt  int // the aborting side resets after writing this many bytes
}

const (
	clientFirst = iota // client sends all, half-closes; then the backend
	backendFirst
	together // both send at once

	noAbort = iota
	clientAborts
	backendAborts
)

// newManyPlan draws one connection's plan: mostly small transfers, some up
// to 1 MiB; one connection in eight aborted by one side before its last
// byte.
func newManyPlan(r *rand.Rand) manyPlan {
	size := func() int {
		switch x := r.IntN(100); {
		case x < 70:
			return r.IntN(4 << 10)
		case x < 98:
			return r.IntN(64 << 10)
		default:
			return r.IntN(1 << 20)
		}
	}
	p := manyPlan{up: size(), down: size(), order: r.IntN(3)}
	if r.IntN(8) == 0 {
		p.abort = clientAborts + r.IntN(2)
		if p.abort == clientAborts {
			p.up = max(p.up, 1)
			p.abortAt = r.IntN(p.up)
		} else {
			p.down = max(p.down, 1)
			p.abortAt = r.IntN(p.down)
		}
	}
	return p
}

// streams of connection id: client → backend and backend → client.
func manyStreams(id int) (up, down pattern) {
	return pattern{off: id * 7919}, pattern{off: id*104729 + 12345}
}

// TestManyConnections runs 10,000 connections through one proxy, as many at
// once as the descriptor limit allows (all 10,000 where it is above about
// 80,000), with random sizes, both half-close orders and both sides sending
// at once, and one in eight reset midway by one side. Every byte of a
// connection that was not reset must arrive, in order, followed by a clean
// EOF; the peer of a reset gets a true prefix of its stream and then an
// error or EOF. Afterwards the counts are back to zero, and the process has
// as many descriptors and goroutines as before.
func TestManyConnections(t *testing.T) {
	const total = 10000
	// Four sockets per connection in this process (client, the proxy's
	// two, the backend's), and two pipes more while bytes move.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// As root the hard limit may rise too (Rlimit's fields are uint64 or
	// int64 by OS, hence the generic helper).
	if raised := lim; atLeast(&raised.Cur, &raised.Max, 8*total+1000) && syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
		lim = raised
	}
	concurrent := min(total, (int(lim.Cur)-1000)/8)
	if concurrent < total {
		t.Logf("%d connections at a time: RLIMIT_NOFILE is %d", concurrent, lim.Cur)
	}

	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 14))
	plans := make([]manyPlan, total)
	for i := range plans {
		plans[i] = newManyPlan(r)
	}
	t.Logf("seed %d", seed)

	// Registered first, so it runs last: after the cleanups that stop the
	// proxy and the backend.
	fds0, leak := countFDs(t), goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if !testutil.WaitFor(5*time.Second, func() bool { return countFDs(t) <= fds0 }) {
			t.Errorf("%d descriptors open, %d before the test", countFDs(t), fds0)
		}
		goleak.VerifyNone(t, leak)
	})
	var srvErrs errList
	var srvDone atomic.Int64
	srv := newServer(t, func(c net.Conn) {
		defer srvDone.Add(1)
		manyBackend(c, plans, &srvErrs)
	})
	b := NewBackend(srv.addr())
	p := &Proxy{}
	p.Switch(b)
	addr := startProxy(t, p)

	var cliErrs errList
	var wantIn, maxIn, wantOut, maxOut atomic.Int64 // bounds on the proxy's byte counters
	sem := make(chan struct{}, concurrent)
	var wg sync.WaitGroup
	for id := range total {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			pl := plans[id]
			maxIn.Add(int64(8 + pl.up))
			maxOut.Add(int64(pl.down))
			if pl.abort == noAbort {
				wantIn.Add(int64(8 + pl.up))
				wantOut.Add(int64(pl.down))
			}
			if err := manyClient(addr, id, pl); err != nil {
				cliErrs.add(fmt.Errorf("conn %d %+v: client: %w", id, pl, err))
			}
		}()
	}
	wg.Wait()

	testutil.Eventually(t, 10*time.Second, "counts to zero", func() bool { return b.Conns() == 0 && p.Stats().Active == 0 })
	// The backend may still be reading what the proxy delivered before it closed.
	testutil.Eventually(t, 30*time.Second, "backend handlers to finish", func() bool { return srvDone.Load() == total })
	for _, errs := range []*errList{&cliErrs, &srvErrs} {
		if n, first := errs.get(); n > 0 {
			t.Errorf("%d errors; first: %v", n, first)
		}
	}
	st := p.Stats()
	if st.Accepted != total || st.Failed != 0 || b.Served() != total || srv.accepted.Load() != total {
		t.Errorf("stats %+v, backend served %d, server accepted %d; want %d each, no failures", st, b.Served(), srv.accepted.Load(), total)
	}
	if in, out := int64(st.BytesIn), int64(st.BytesOut); in < wantIn.Load() || in > maxIn.Load() || out < wantOut.Load() || out > maxOut.Load() {
		t.Errorf("bytes in %d (want %d..%d), out %d (want %d..%d)", in, wantIn.Load(), maxIn.Load(), out, wantOut.Load(), maxOut.Load())
	}
}

// atLeast raises *cur (and *max with it) to n, and reports whether that
// changed anything.
func atLeast[T int64 | uint64](cur, max *T, n T) bool {
	if *cur >= n {
		return false
	}
	*cur = n
	if *max < n {
		*max = n
	}
	return true
}

// manyClient is one connection's client side.
func manyClient(addr string, id int, pl manyPlan) error {
	nc, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return err
	}
	c := nc.(*net.TCPConn)
	defer c.Close()
	c.SetDeadline(time.Now().Add(90 * time.Second))
	if err := binary.Write(c, binary.LittleEndian, uint64(id)); err != nil {
		return err
	}
	up, down := manyStreams(id)
	send := func() error {
		if pl.abort == clientAborts {
			up.write(c, pl.abortAt)
			c.SetLinger(0)
			c.Close()
			return nil
		}
		return sendAll(c, up, pl.up, pl.abort == backendAborts)
	}
	recv := func() error {
		return checkReceived(c, down, pl.down, pl.abort == backendAborts, pl.abort == clientAborts)
	}
	return runOrdered(pl.order == backendFirst, send, recv)
}

// manyBackend is one connection's backend side.
func manyBackend(nc net.Conn, plans []manyPlan, errs *errList) {
	c := nc.(*net.TCPConn)
	c.SetDeadline(time.Now().Add(90 * time.Second))
	var id uint64
	if err := binary.Read(c, binary.LittleEndian, &id); err != nil || id >= uint64(len(plans)) {
		errs.add(fmt.Errorf("backend: read id: %d, %v", id, err))
		return
	}
	pl := plans[id]
	up, down := manyStreams(int(id))
	send := func() error {
		if pl.abort == backendAborts {
			down.write(c, pl.abortAt)
			c.SetLinger(0)
			c.Close()
			return nil
		}
		return sendAll(c, down, pl.down, pl.abort == clientAborts)
	}
	recv := func() error {
		return checkReceived(c, up, pl.up, pl.abort == clientAborts, pl.abort == backendAborts)
	}
	if err := runOrdered(pl.order == clientFirst, send, recv); err != nil {
		errs.add(fmt.Errorf("conn %d %+v: backend: %w", id, pl, err))
	}
}

// runOrdered runs recv then send (recvFirst), or send then recv, or, with
// neither first, both at once. A side that cannot have its whole stream
// (the peer reset it) stops there. A send that resets the connection
// (send returns nil after closing it) makes recv moot.
func runOrdered(recvFirst bool, send, recv func() error) error {
	if recvFirst {
		if err := recv(); err != nil {
			return err
		}
		return send()
	}
	// send first, or both at once: recv in a second goroutine either way,
	// so that a side waiting for its peer's EOF still reads meanwhile.
	errc := make(chan error, 1)
	go func() { errc <- recv() }()
	serr := send()
	rerr := <-errc
	return errors.Join(serr, rerr)
}

// sendAll writes one side's stream of n bytes and half-closes. If the peer
// resets the connection (peerAborts), writing may fail, and that is right.
func sendAll(c *net.TCPConn, s pattern, n int, peerAborts bool) error {
	err := s.write(c, n)
	if err == nil {
		err = c.CloseWrite()
	}
	if err != nil && !peerAborts {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// checkReceived reads one side's incoming stream of want bytes. If the
// peer resets (peerAborts), a true prefix then an error or EOF is right;
// if this side resets (selfAborts), any end of the read is.
func checkReceived(c net.Conn, s pattern, want int, peerAborts, selfAborts bool) error {
	n, eof, err := s.read(c, want)
	switch {
	case errors.Is(err, errMismatch):
		return fmt.Errorf("after %d good bytes: %w", n, err)
	case selfAborts:
		return nil
	case peerAborts:
		if n >= want {
			return fmt.Errorf("got all %d bytes of a stream its sender reset midway", n)
		}
		return nil
	case err != nil || !eof || n != want:
		return fmt.Errorf("read %d of %d bytes, then %v (clean EOF %v)", n, want, err, eof)
	}
	return nil
}

// errList collects errors from many goroutines, keeping the first.
type errList struct {
	mu    sync.Mutex
	n     int
	first error
}

func (l *errList) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n++; l.first == nil {
		l.first = err
	}
}

func (l *errList) get() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, l.first
}

// countFDs counts this process's open descriptors.
func countFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(entries)
}
