//go:build !l4proxy_portable

package l4proxy

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// dialFD starts a non-blocking connect from a new socket to the backend
// for the client socket cfd and gives both to lp, the loop that accepted
// it (this runs there), which finishes the connect (elink.connected),
// unless it finished at once. It returns false, having changed nothing,
// when the client needs the goroutine path instead (serveFD): PROXY
// protocol settings, no backend yet or refusing, a backend address that
// needs resolving, or a socket or connect that failed at once.
func (p *Proxy) dialFD(e *connEntry, cfd int, start time.Time, lp *loop) bool {
	if lim := p.currentLimits(); lim.AcceptProxyProtocol || lim.ProxyProtocol != ProxyProtocolOff {
		return false
	}
	t := p.target.Load()
	if t.refuse {
		return false
	}
	b := t.pick(nil)
	if b == nil || !b.ip.IsValid() {
		return false
	}
	if p.picked != nil {
		p.picked(b)
	}
	if !b.acquire() {
		return false
	}
	bfd, err := p.connectFD(b)
	if err != nil {
		b.release()
		return false
	}
	l := &elink{p: p, b: b, e: e, fd: [2]int{cfd, bfd}, lp: lp,
		writeTimeout: p.clientWriteTimeout(), finEvery: p.finTimeout(),
		connecting: true, accepted: clockAt(start)}
	p.startLink(l, true)
	if !l.done && established(bfd) {
		l.start(0)
	}
	return true
}

// connectFD returns a socket connecting (non-blocking) to b's address.
func (p *Proxy) connectFD(b *Backend) (int, error) {
	sa, family := sockaddrOf(b.ip)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if ka := p.clientKeepAlive(); !b.loopback && ka > 0 {
		setKeepAliveFD(fd, ka)
	}
	switch err := unix.Connect(fd, sa); err {
	case nil, unix.EINPROGRESS, unix.EINTR: // EINTR: the connect goes on, as with EINPROGRESS
		return fd, nil
	default:
		unix.Close(fd)
		return -1, os.NewSyscallError("connect", err)
	}
}

func sockaddrOf(ap netip.AddrPort) (unix.Sockaddr, int) {
	if a := ap.Addr(); a.Is4() || a.Is4In6() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}, unix.AF_INET
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}, unix.AF_INET6
}

// serveFD serves the client socket cfd in a goroutine, as Serve does a
// client from ln.Accept: a client the raw path could not dial at once (see
// dialFD), or whose connect in the loop failed (skip: that backend;
// skipErr: why). The socket first becomes a net.Conn, which takes a spare
// descriptor for a moment; while none is free that is retried until the
// connect deadline.
func (p *Proxy) serveFD(e *connEntry, cfd int, start time.Time, skip *Backend, skipErr error) {
	c, err := p.fdConn(cfd, start)
	if err != nil {
		p.stats.failed.Add(1)
		p.log.Warn("l4proxy: client closed without a backend", "waited", time.Since(start).Round(time.Millisecond), "err", err)
		p.untrack(e)
		return
	}
	e.conn.Store(&c)
	if p.abortingAll.Load() { // Shutdown's closeAll may have passed e before the store
		c.Close()
	}
	p.serveConn(c, true, e, start, skip, skipErr)
	if !e.handed {
		p.untrack(e)
	}
}

// fdConn turns the socket cfd into a net.Conn; cfd is closed either way.
func (p *Proxy) fdConn(cfd int, start time.Time) (net.Conn, error) {
	f := os.NewFile(uintptr(cfd), "client")
	defer f.Close() // the net.Conn holds a duplicate
	deadline := start.Add(p.connectTimeout())
	var backoff time.Duration
	for {
		c, err := net.FileConn(f)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
			return nil, err
		}
		if backoff = nextBackoff(backoff); time.Now().Add(backoff).After(deadline) {
			return nil, errConnectTimeout
		}
		if !p.pause(backoff) {
			return nil, errClosing
		}
	}
}
