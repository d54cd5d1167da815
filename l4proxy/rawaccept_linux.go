//go:build !l4proxy_portable

package l4proxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// acceptBatch bounds the clients one wake-up accepts before Serve looks at
// Shutdown again (closing the listener waits for the batch to end).
const acceptBatch = 16

// rawAcceptor returns Serve's accept step for l where the event loops run:
// accept4(2) on l's socket, then a non-blocking connect to the backend, and
// both descriptors go to a loop (dialFD). Neither socket ever enters Go's
// poller, so a short connection costs about the system calls HAProxy
// makes: no descriptor duplicated, registered, unregistered, or asked for
// its addresses. It returns false where the loops are off.
//
// Accepting goes through the listener's own descriptor (RawConn.Control),
// which fails once the listener is closed, so nothing is accepted after
// Close; the duplicate in Go's poller (see proxyListener) is only waited on.
func (p *Proxy) rawAcceptor(l *proxyListener) (func() error, bool) {
	if loopsDisabled {
		return nil, false
	}
	sock, err := l.SyscallConn()
	if err != nil {
		return nil, false
	}
	wait, err := l.waitConn(sock)
	if err != nil {
		return func() error { return err }, true // closed: Serve returns
	}
	// Accepted sockets inherit TCP_NODELAY from the listening one.
	sock.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) })
	return func() error { return p.acceptRaw(sock, wait) }, true
}

// waitConn returns the RawConn of l's duplicate descriptor, made on first
// use; net.ErrClosed once l is closed.
func (l *proxyListener) waitConn(sock syscall.RawConn) (syscall.RawConn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, net.ErrClosed
	}
	if l.wait == nil {
		nfd, err := -1, error(nil)
		cerr := sock.Control(func(fd uintptr) { nfd, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) })
		if cerr != nil {
			return nil, cerr
		}
		if err != nil {
			return nil, os.NewSyscallError("fcntl", err)
		}
		l.wait = os.NewFile(uintptr(nfd), "listener") // non-blocking: Go's poller takes it
	}
	return l.wait.SyscallConn()
}

// acceptRaw waits until clients are there, accepts up to acceptBatch of
// them and hands each to dialFD. Errors are accept4's (EMFILE, …), or
// net.ErrClosed once the listener is closed or stops listening.
func (p *Proxy) acceptRaw(sock, wait syscall.RawConn) error {
	var err error
	rerr := wait.Read(func(uintptr) bool {
		n := 0
		if cerr := sock.Control(func(fd uintptr) { n, err = p.acceptSome(int(fd)) }); cerr != nil {
			err = cerr // the listener is closed
			return true
		}
		return n > 0 || err != unix.EAGAIN
	})
	switch {
	case rerr != nil: // the duplicate was closed: so was the listener
		return fmt.Errorf("%w (%w)", net.ErrClosed, rerr)
	case err == nil, err == unix.EAGAIN:
		return nil
	case err == unix.EINVAL: // shut down (upgrade's Close): no longer listening
		return fmt.Errorf("%w (%w)", net.ErrClosed, os.NewSyscallError("accept4", err))
	case errors.Is(err, net.ErrClosed):
		return err
	}
	return os.NewSyscallError("accept4", err)
}

// acceptSome accepts clients on the listening socket lfd until it would
// block (EAGAIN), fails, or acceptBatch were taken (nil).
func (p *Proxy) acceptSome(lfd int) (n int, err error) {
	for n < acceptBatch {
		cfd, err := accept4(lfd)
		switch err {
		case nil:
			n++
			p.acceptedFD(cfd)
		case unix.EINTR, unix.ECONNABORTED: // a client gone before accept: the next one
		default:
			return n, err
		}
	}
	return n, nil
}

// acceptedFD starts proxying the client socket cfd unless the connection
// limit is reached: dialed here and handed to a loop, or, when that cannot
// be done at once, served by a goroutine (serveFD).
func (p *Proxy) acceptedFD(cfd int) {
	p.stats.accepted.Add(1)
	e := &connEntry{}
	if !p.track(e) {
		p.stats.failed.Add(1)
		unix.Close(cfd)
		return
	}
	start := time.Now()
	if !p.dialFD(e, cfd, start) {
		go p.serveFD(e, cfd, start, nil, nil)
	}
}

// accept4 accepts a client on lfd, non-blocking and close-on-exec, without
// asking for its address (unix.Accept4 also asks the listening socket for
// its protocol on every call, to tell L2TP apart).
func accept4(lfd int) (int, error) {
	fd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}
