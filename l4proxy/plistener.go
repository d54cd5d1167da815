package l4proxy

import (
	"net"
	"os"
	"sync"
	"syscall"
)

// proxyListener is a TCP listener Serve may accept from directly, with
// accept4(2) on its socket, so that a client's descriptor never enters Go's
// poller (rawaccept_linux.go): one made by Proxy.Listen, or one given to
// Adopt. To sleep until a client arrives, Serve waits on a duplicate of
// the listening descriptor (Go's poller will not wait on a listener for
// anyone but Accept); Close closes that duplicate too, so the socket stops
// listening at once and a waiting Serve returns.
type proxyListener struct {
	net.Listener      // Addr, Accept and Close are its
	keepAlive    bool // accepted sockets inherit the proxy's keepalive (made by Listen)

	mu     sync.Mutex
	closed bool
	wait   *os.File // the duplicate Serve waits on; nil until the first Serve
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

// Close closes the listener, then the duplicate Serve waits on.
func (l *proxyListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	w := l.wait
	l.wait = nil
	l.mu.Unlock()
	if w != nil {
		w.Close()
	}
	return err
}
