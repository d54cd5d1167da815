package l4proxy

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// writeGuard closes a link whose writes to one socket stop making progress
// (a client that never reads fills its window, and the copy towards it
// would wait forever). It sets a write deadline on the socket only while a
// write is blocked, so a fast peer costs nothing. When the deadline passes,
// the peer still counts as alive if it acknowledged any byte since the
// deadline was set (TCP_INFO, where the system has it): the kernel only
// wakes a blocked writer once a good part of the send buffer is free, so a
// slow reader may go long without a successful write while it keeps reading.
// Its methods are nil-safe: a nil guard never times out.
//
// The writing direction calls blocked, progressed, extend and idle; shorten
// may be called from any goroutine.
type writeGuard struct {
	conn  net.Conn
	fresh atomic.Bool // a deadline was set since the last progress
	set   atomic.Bool // a deadline is set on conn

	mu      sync.Mutex    // serializes the deadline and guards the fields below
	timeout time.Duration // ≤ 0: none
	acked   uint64        // bytes the peer had acknowledged when the deadline was set
}

// init prepares a zero guard for conn; timeout ≤ 0 means none (until
// shorten sets one).
func (g *writeGuard) init(conn net.Conn, timeout time.Duration) {
	g.conn, g.timeout = conn, timeout
}

// blocked is called when a write would block: the clock starts unless it
// already runs since the last progress.
func (g *writeGuard) blocked() {
	if g == nil || g.fresh.Load() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.timeout > 0 && !g.fresh.Load() {
		g.armLocked()
	}
}

func (g *writeGuard) armLocked() {
	g.acked, _ = ackedBytes(g.conn)
	g.conn.SetWriteDeadline(time.Now().Add(g.timeout))
	g.fresh.Store(true)
	g.set.Store(true)
}

// progressed is called after bytes were written: the next block gets a full
// timeout again.
func (g *writeGuard) progressed() {
	if g != nil && g.fresh.Load() {
		g.fresh.Store(false)
	}
}

// extend is called when the write deadline passed. If the peer acknowledged
// bytes meanwhile, it sets a new deadline and returns true (write on);
// otherwise the peer made no progress for the timeout: false.
func (g *writeGuard) extend() bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	acked, ok := ackedBytes(g.conn)
	if !ok || acked == g.acked {
		return false
	}
	g.armLocked()
	return true
}

// idle is called when a chunk is written: nothing waits now, so the
// deadline is cleared (an idle connection must not trip it later).
func (g *writeGuard) idle() {
	if g == nil || !g.set.Load() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.conn.SetWriteDeadline(time.Time{})
	g.set.Store(false)
	g.fresh.Store(false)
}

// shorten lowers the timeout to d and starts it now, for a write already
// blocked as well as for later ones.
func (g *writeGuard) shorten(d time.Duration) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.timeout <= 0 || d < g.timeout {
		g.timeout = d
	}
	g.armLocked()
}
