package l4proxy

import (
	"net"
	"sync"
	"syscall"
)

// proxyListener is a TCP listener Serve may accept from directly, with
// accept4(2) on its socket, so that a client's descriptor never enters Go's
// poller (rawaccept_linux.go): one made by Proxy.Listen, or one given to
// Adopt. The event loops wait for clients on a duplicate of the listening
// descriptor; Close has them drop it and closes it, so the socket stops
// listening once Close returns and Serve returns.
type proxyListener struct {
	net.Listener      // Addr, Accept and Close are its
	keepAlive    bool // accepted sockets inherit the proxy's keepalive (made by Listen)

	mu      sync.Mutex
	closed  bool
	onClose []func() // run by Close (see rawAcceptor)
}

// Adopt returns ln as a listener Serve accepts from directly, as it does
// from one made by Listen: ln must be a TCP listener whose socket
// SyscallConn gives (a *net.TCPListener, such as one inherited from a
// previous process, or a wrapper around one), and Serve gets a client's
// descriptor with accept4(2) instead of ln.Accept. The result's Addr and
// Close are ln's (Close also closes the duplicate descriptor Serve waits
// on). A listener Adopt cannot use is returned as it is.
//
// The accepted sockets keep the listening socket's options: set a non-zero
// Proxy.KeepAlive only on listeners from Listen, or Serve falls back to
// ln.Accept to set it on each connection.
func Adopt(ln net.Listener) net.Listener {
	if _, ok := ln.(syscall.Conn); !ok {
		return ln
	}
	if _, ok := ln.Addr().(*net.TCPAddr); !ok {
		return ln
	}
	return &proxyListener{Listener: ln}
}

// SyscallConn is the listening socket's (tableflip hands it over through
// this).
func (l *proxyListener) SyscallConn() (syscall.RawConn, error) {
	return l.Listener.(syscall.Conn).SyscallConn()
}

// Close closes the listener, then has the loops stop waiting on it.
func (l *proxyListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	fns := l.onClose
	l.onClose = nil
	l.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
	return err
}

// whenClosed runs fn from Close (at once if Close has run), under l.mu
// until then, so that whatever fn undoes is done before Close can run it.
func (l *proxyListener) whenClosed(setup func(), fn func()) (closed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return true
	}
	setup()
	l.onClose = append(l.onClose, fn)
	return false
}
