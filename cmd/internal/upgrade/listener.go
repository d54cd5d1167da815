package upgrade

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// ownedListener is a TCP listener made through Upgrader.Listen. tableflip
// keeps a copy of every such socket, to hand it to a successor, so closing
// the listener alone would leave the port listening (clients would queue
// in its backlog instead of being refused, and nobody else could bind it).
// So while this daemon is the serving one, Close first shuts the socket's
// receiving side, which stops it listening for every copy: the port
// refuses at once and can be bound again. A daemon that has handed over,
// or that is still taking over, must not do that: the socket is its
// successor's or its predecessor's too.
type ownedListener struct {
	net.Listener
	u *Upgrader
}

func (l *ownedListener) Close() error {
	if l.u.serving() {
		stopListening(l.Listener)
	}
	return l.Listener.Close()
}

// SyscallConn is the socket's, as tableflip wants it.
func (l *ownedListener) SyscallConn() (syscall.RawConn, error) {
	return l.Listener.(syscall.Conn).SyscallConn()
}

// stopListening shuts ln's socket down for reading: on Linux a listening
// socket then stops listening, whichever process holds a copy. Best effort.
func stopListening(ln net.Listener) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return
	}
	if rc, err := sc.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { _ = unix.Shutdown(int(fd), unix.SHUT_RD) })
	}
}
