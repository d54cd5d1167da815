package l4proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// Accept backoff after a temporary error such as EMFILE: the failed
// connection stays in the kernel's backlog and is accepted once descriptors
// are free again, so accept never stops for good.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = 500 * time.Millisecond
)

// ErrShutdown is returned by Serve when it is called after Shutdown.
var ErrShutdown = errors.New("l4proxy: proxy is shut down")

// Serve accepts connections on ln and proxies them until Shutdown, then
// returns nil. It closes ln on return. Temporary accept errors (out of
// file descriptors, aborted handshakes) back off and retry; any other
// accept error is returned, wrapped (one wrapping net.ErrClosed if ln was
// closed by someone else; open connections keep running then). Serve may
// be called for several listeners.
func (p *Proxy) Serve(ln net.Listener) error {
	p.init()
	if !p.addListener(ln) {
		ln.Close()
		return ErrShutdown
	}
	defer p.serves.Done()
	defer p.removeListener(ln)
	accept := p.acceptor(ln)
	var backoff time.Duration
	for {
		err := accept()
		if err != nil {
			if p.isClosing() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
			}
			p.stats.acceptErr.Add(1)
			if !isTemporary(err) {
				return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
			}
			backoff = nextBackoff(backoff)
			p.log.Warn("l4proxy: accept failed, backing off", "addr", ln.Addr().String(), "err", err, "backoff", backoff)
			if !p.pause(backoff) {
				return nil
			}
			continue
		}
		backoff = 0
	}
}

// acceptor returns Serve's accept step for ln: it accepts one or more
// clients and starts proxying them. A listener from Listen or Adopt is
// accepted from directly where the event loops run (rawaccept_linux.go);
// any other with ln.Accept.
func (p *Proxy) acceptor(ln net.Listener) func() error {
	pl, ours := ln.(*proxyListener)
	inherited := ours && pl.keepAlive
	goAccept := func() error {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		p.accepted(c, inherited)
		return nil
	}
	if !ours || !(inherited || p.KeepAlive == 0) {
		return goAccept
	}
	if raw, ok := p.rawAcceptor(pl); ok {
		return raw
	}
	return goAccept
}

// accepted starts proxying c unless the connection limit is reached.
func (p *Proxy) accepted(c net.Conn, inherited bool) {
	p.stats.accepted.Add(1)
	e := &connEntry{}
	e.conn.Store(&c)
	if !p.track(e) {
		p.stats.failed.Add(1)
		c.Close()
		return
	}
	go p.serveTracked(e, inherited)
}

// connEntry is an open client connection as the proxy tracks it, for
// Shutdown: until its link is handed to an event loop, closing conn ends
// it; after, the loop aborts it. (A client accepted directly by the raw
// path has no conn until it falls back to a goroutine: see serveFD.)
type connEntry struct {
	conn   atomic.Pointer[net.Conn]
	member setMember[*connEntry]
	handed bool                  // its link went to a loop; only its own goroutine uses this
	loop   atomic.Pointer[elink] // the link in its loop, once handed
}

// serveTracked is one client connection's goroutine: serveConn, then
// untrack, unless the link went to an event loop, which untracks it when
// the link ends.
func (p *Proxy) serveTracked(e *connEntry, inherited bool) {
	p.serveConn(*e.conn.Load(), inherited, e, time.Now(), nil, nil)
	if !e.handed {
		p.untrack(e)
	}
}

// track registers e as open, enforcing MaxConnections. It fails when the
// proxy is closing or full. Nothing here is shared by all connections but
// two atomic words: the active count and the stopping flag; e is listed
// in a shard of p.conns (for Shutdown) before the flag is read, and
// Shutdown sets the flag before it walks the shards, so a connection that
// gets in is one Shutdown will see.
func (p *Proxy) track(e *connEntry) bool {
	n := p.stats.active.Add(1)
	if limit := p.currentLimits().MaxConnections; limit > 0 && n > int64(limit) {
		p.dropActive()
		return false
	}
	p.conns.add(&e.member, e)
	if p.stopping.Load() {
		p.conns.remove(&e.member)
		p.dropActive()
		return false
	}
	return true
}

// untrack forgets a connection registered by track.
func (p *Proxy) untrack(e *connEntry) {
	p.conns.remove(&e.member)
	p.dropActive()
}

// dropActive un-counts one connection; the last one out after Shutdown
// started closes idle. (Shutdown sets stopping before it reads the count,
// and this reads stopping after it drops the count, so one of them sees
// the other and idle is closed.)
func (p *Proxy) dropActive() {
	if p.stats.active.Add(-1) == 0 && p.stopping.Load() {
		p.idleOnce.Do(func() { close(p.idle) })
	}
}

func (p *Proxy) addListener(ln net.Listener) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutdown {
		return false
	}
	p.listeners[ln] = struct{}{}
	p.serves.Add(1) // Done when Serve returns
	return true
}

func (p *Proxy) removeListener(ln net.Listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.listeners, ln)
	ln.Close()
}

func (p *Proxy) isClosing() bool {
	select {
	case <-p.closing:
		return true
	default:
		return false
	}
}

// pause waits for d; it returns false if Shutdown started meanwhile.
func (p *Proxy) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.closing:
		return false
	}
}

// Shutdown stops accepting (closing every listener given to Serve), makes
// connections waiting for a backend give up, and waits for open connections
// to finish. If ctx is done first it closes the remaining connections,
// waits for their goroutines to end and returns ctx.Err(); otherwise nil.
// Calling it again waits again.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.init()
	p.mu.Lock()
	if !p.shutdown {
		p.shutdown = true
		close(p.closing)
		for ln := range p.listeners {
			ln.Close()
		}
	}
	p.mu.Unlock()
	// A client a Serve loop has accepted but not yet tracked is the
	// kernel's accepted connection: refusing it would reset it (a daemon
	// handing over lost one request now and then that way). So stopping,
	// which makes track refuse, is set only once every Serve loop has
	// returned, and everything they accepted is tracked and served.
	p.waitServes(ctx)
	p.stopping.Store(true)
	if p.stats.active.Load() == 0 {
		p.idleOnce.Do(func() { close(p.idle) })
	}
	select {
	case <-p.idle:
		p.cancel()
		p.releaseLoops()
		return nil
	case <-ctx.Done():
	}
	p.closeAll()
	<-p.idle
	p.releaseLoops()
	return ctx.Err()
}

// waitServes waits until every Serve loop has returned (their listeners are
// closed, so that is at once), or ctx is done.
func (p *Proxy) waitServes(ctx context.Context) {
	done := make(chan struct{})
	go func() { p.serves.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// closeAll aborts every open connection: it cancels dials, closes client
// sockets (each connection's goroutines then close the backend side) and
// has the event loops abort their links. A link handed to a loop after
// its entry was passed here sees abortingAll and aborts itself.
func (p *Proxy) closeAll() {
	p.cancel()
	p.abortingAll.Store(true)
	p.conns.each(closeEntry)
}

func closeEntry(e *connEntry) {
	if l := e.loop.Load(); l != nil {
		l.abortAsync()
		return
	}
	if c := e.conn.Load(); c != nil {
		(*c).Close()
	}
}

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return minAcceptBackoff
	}
	return min(2*d, maxAcceptBackoff)
}

// isTemporary reports accept errors worth retrying: resource exhaustion and
// connections that died before accept returned them.
func isTemporary(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS,
		syscall.ENOMEM, syscall.ECONNABORTED, syscall.EPROTO, syscall.EINTR} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
