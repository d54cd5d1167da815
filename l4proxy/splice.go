package l4proxy

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// link is one proxied connection: a client and a backend socket and the two
// copy directions between them.
type link struct {
	p       *Proxy
	client  net.Conn
	backend net.Conn
	guard   writeGuard // progress timeout on writes to the client
	wg      sync.WaitGroup
	aborted atomic.Bool
	// moved[d] counts the bytes direction d copied, where the copy does not
	// splice (the fin watch's progress on systems without TCP_INFO).
	moved [2]atomic.Uint64
	// eof[d] is set once direction d ended with a clean EOF, so its
	// receiver has every byte (the half-close follows).
	eof [2]atomic.Bool
	// fin is set by the first direction to end cleanly while the other
	// runs; run reads it after both pumps returned (wg.Wait orders it).
	fin *finWatch

	member setMember[goner] // its place in its Backend's open links
}

// Copy directions, indexes into link.eof.
const (
	toBackend = 0
	toClient  = 1
)

func (p *Proxy) newLink(client, backend net.Conn) *link {
	l := &link{p: p, client: client, backend: backend}
	l.guard.init(client, p.clientWriteTimeout())
	return l
}

// run copies client→backend in the calling goroutine and backend→client in
// a second one until both directions are done, then closes both sockets.
func (l *link) run() {
	l.wg.Add(1)
	go copyToClient(l)
	l.pump(toBackend, l.backend, l.client, nil, &l.p.stats.bytesIn)
	l.wg.Wait()
	l.fin.stop()
	l.client.Close()
	l.backend.Close()
}

// copyToClient is the backend→client direction of one link.
func copyToClient(l *link) {
	defer l.wg.Done()
	l.pump(toClient, l.client, l.backend, &l.guard, &l.p.stats.bytesOut)
}

// pump copies src to dst until src's EOF, then forwards the half-close
// (CloseWrite) and starts the fin timeout for the other direction. An error
// (a reset on either side, a write that made no progress for the guard's
// timeout, or the fin timeout closing the sockets) aborts the whole link.
func (l *link) pump(dir int, dst, src net.Conn, guard *writeGuard, bytes *atomic.Uint64) {
	n, err := l.copyConn(dir, dst, src, guard)
	bytes.Add(uint64(n))
	if err != nil {
		l.abort()
		return
	}
	l.eof[dir].Store(true)
	if l.eof[1-dir].Load() {
		return // both done: the Close that follows sends the FIN
	}
	closeWrite(dst)
	if fin := l.p.finTimeout(); fin > 0 {
		l.fin = watchFin(l, 1-dir, fin) // only the first direction to end gets here
	}
}

// abort closes both sockets once. A side is reset (SO_LINGER 0) unless the
// stream towards it already ended cleanly: a reset forwards the abort to a
// peer still expecting data, while a peer that got its FIN keeps its bytes.
func (l *link) abort() {
	if !l.aborted.CompareAndSwap(false, true) {
		return
	}
	if !l.eof[toClient].Load() {
		setLingerZero(l.client)
	}
	if !l.eof[toBackend].Load() {
		setLingerZero(l.backend)
	}
	l.client.Close()
	l.backend.Close()
}

// backendGone winds the link down after its backend's server went away
// (see Backend.Gone). Nothing the client sends can be delivered any more,
// so the client direction ends at once (its socket's read side is shut,
// which reads as EOF); what the server sent before it went is still
// delivered to a client that keeps reading, and the link is aborted as soon
// as either socket makes no progress for grace.
func (l *link) backendGone(grace time.Duration) {
	if cr, ok := l.client.(interface{ CloseRead() error }); ok {
		cr.CloseRead()
	}
	l.backend.SetDeadline(time.Now().Add(grace))
	l.guard.shorten(grace)
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

func setLingerZero(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
}
