package l4proxy

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// link is one proxied connection: a client and a backend socket and the two
// copy directions between them.
type link struct {
	p       *Proxy
	client  net.Conn
	backend net.Conn
	wg      sync.WaitGroup
	aborted atomic.Bool
	// eof[d] is set once direction d ended with a clean EOF, so its
	// receiver has every byte (the half-close follows).
	eof [2]atomic.Bool
	// fin is set by the first direction to end cleanly while the other
	// runs; splice reads it after both pumps returned (wg.Wait orders it).
	fin *finWatch
}

// Copy directions, indexes into link.eof.
const (
	toBackend = 0
	toClient  = 1
)

// splice copies client→backend in the calling goroutine and backend→client
// in a second one until both directions are done, then closes both sockets.
// io.Copy between the raw *net.TCPConn values makes Linux use splice(2)
// through a kernel pipe; nothing wraps the connections, and no deadline is
// ever set on them (an expired write deadline would drop bytes already
// spliced into the pipe).
func (p *Proxy) splice(client, backend net.Conn) {
	l := &link{p: p, client: client, backend: backend}
	l.wg.Add(1)
	go copyToClient(l)
	l.pump(toBackend, backend, client, &p.stats.bytesIn)
	l.wg.Wait()
	l.fin.stop()
	client.Close()
	backend.Close()
}

// copyToClient is the backend→client direction of one link.
func copyToClient(l *link) {
	defer l.wg.Done()
	l.pump(toClient, l.client, l.backend, &l.p.stats.bytesOut)
}

// pump copies src to dst until src's EOF, then forwards the half-close
// (CloseWrite) and starts the fin timeout for the other direction. An error
// (a reset on either side, or the fin timeout closing the sockets) aborts
// the whole link.
func (l *link) pump(dir int, dst, src net.Conn, bytes *atomic.Uint64) {
	n, err := io.Copy(dst, src)
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
