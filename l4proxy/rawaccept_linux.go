//go:build !l4proxy_portable

package l4proxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// acceptBatch bounds the clients one loop turn accepts from a listener;
// the rest wait for the loop's next turn, like a link's bytes (loopBudget).
const acceptBatch = 16

// An acceptor is a listener the event loops accept from. Its socket's
// duplicate is in every loop's epoll set (EPOLLEXCLUSIVE: a new client
// wakes one loop), and the loop that wakes accepts with accept4(2), dials
// the backend with a non-blocking connect and runs the link itself
// (dialFD): a short connection is one thread's work, like HAProxy's, with
// no goroutine woken and no socket in Go's poller.
//
// accept4 goes through the listener's own descriptor (RawConn.Control),
// which fails once the listener is closed, so nothing is accepted after
// Close; the duplicate is only waited on. Close (proxyListener) has every
// loop drop the duplicate, then closes it, so the port stops listening
// before Close returns.
type acceptor struct {
	p    *Proxy
	sock syscall.RawConn // the listener's
	fd   int             // the duplicate in the loops' epoll sets
	all  []*loop         // the loops (loops.all when it was made)

	stopOnce sync.Once
	dropped  sync.WaitGroup // loops that still have fd in their set
	done     chan error     // stop's reason, for Serve
}

// acceptState is a loop's view of an acceptor: its accept backoff after a
// temporary error (out of descriptors: the clients wait in the backlog).
type acceptState struct {
	a       *acceptor
	backoff time.Duration
	retryAt time.Time // zero: not backing off
	queued  bool      // in lp.acceptQueue
	stopped bool
}

// rawAcceptor returns Serve's accept step for l where the event loops run:
// it hands l to the loops and returns when l is closed (net.ErrClosed) or
// fails for good. It returns false, for ln.Accept instead, where the loops
// are off and while the PROXY protocol is spoken (its header is read or
// written in a goroutine anyway).
func (p *Proxy) rawAcceptor(l *proxyListener) (func() error, bool) {
	if lim := p.currentLimits(); lim.AcceptProxyProtocol || lim.ProxyProtocol != ProxyProtocolOff || !p.useLoops() {
		return nil, false
	}
	sock, err := l.SyscallConn()
	if err != nil {
		return nil, false
	}
	a := &acceptor{p: p, sock: sock, fd: -1, all: loops.all, done: make(chan error, 1)}
	var dupErr error
	cerr := sock.Control(func(fd uintptr) {
		// Accepted sockets inherit TCP_NODELAY from the listening one.
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		a.fd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	})
	switch {
	case cerr != nil:
		return func() error { return cerr }, true // closed already
	case dupErr != nil:
		return nil, false
	}
	closed := l.whenClosed(func() {
		a.dropped.Add(len(a.all))
		for _, lp := range a.all {
			lp.post(loopMsg{kind: msgListen, a: a})
		}
	}, func() { a.stop(net.ErrClosed) })
	if closed {
		unix.Close(a.fd)
		return func() error { return net.ErrClosed }, true
	}
	return func() error { return <-a.done }, true
}

// stop has every loop drop a's duplicate, closes it, and gives Serve err.
// Not from a loop: it waits for them.
func (a *acceptor) stop(err error) {
	a.stopOnce.Do(func() {
		for _, lp := range a.all {
			lp.post(loopMsg{kind: msgUnlisten, a: a})
		}
		a.dropped.Wait()
		unix.Close(a.fd)
		a.done <- err
	})
}

// listen adds a's duplicate to the loop's epoll set (a loop's inbox).
func (lp *loop) listen(a *acceptor) {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE | unix.EPOLLET, Fd: int32(a.fd)}
	if err := unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, a.fd, &ev); err != nil {
		a.dropped.Done()
		go a.stop(os.NewSyscallError("epoll_ctl", err))
		return
	}
	lp.accepting[int32(a.fd)] = &acceptState{a: a}
}

// unlisten takes a's duplicate out of the loop's epoll set.
func (lp *loop) unlisten(a *acceptor) {
	st := lp.accepting[int32(a.fd)]
	if st == nil || st.a != a {
		return // it never got in (see listen)
	}
	st.stopped = true
	delete(lp.accepting, int32(a.fd))
	unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, a.fd, nil)
	a.dropped.Done()
}

// accept takes up to acceptBatch clients from st's listener; with more
// waiting, it comes back on the loop's next turn.
func (lp *loop) accept(st *acceptState) {
	if st.stopped || !st.retryAt.IsZero() {
		return
	}
	a := st.a
	var err error
	if cerr := a.sock.Control(func(fd uintptr) { _, err = a.p.acceptSome(int(fd), lp) }); cerr != nil {
		err = cerr
	}
	switch {
	case err == nil: // a full batch: more may wait
		lp.acceptAgain(st)
	case err == unix.EAGAIN:
		st.backoff = 0
	case isTemporary(err):
		a.p.stats.acceptErr.Add(1)
		st.backoff = nextBackoff(st.backoff)
		st.retryAt = time.Now().Add(st.backoff)
		if lp.retryNext.IsZero() || st.retryAt.Before(lp.retryNext) {
			lp.retryNext = st.retryAt
		}
		a.p.log.Warn("l4proxy: accept failed, backing off", "err", os.NewSyscallError("accept4", err), "backoff", st.backoff)
	case errors.Is(err, net.ErrClosed), err == unix.EINVAL: // closed, or shut down (the upgrader's Close): not listening
		st.stopped = true
		go a.stop(fmt.Errorf("%w (%w)", net.ErrClosed, err))
	default:
		a.p.stats.acceptErr.Add(1)
		st.stopped = true
		go a.stop(os.NewSyscallError("accept4", err))
	}
}

// acceptAgain queues st for the loop's next turn.
func (lp *loop) acceptAgain(st *acceptState) {
	if !st.queued {
		st.queued = true
		lp.acceptQueue = append(lp.acceptQueue, st)
	}
}

// retryAccepts gives the queued listeners their turn, and those whose
// backoff has passed another try (when one has passed).
func (lp *loop) retryAccepts(now time.Time) {
	queue := lp.acceptQueue
	lp.acceptQueue = nil
	for _, st := range queue {
		st.queued = false
		lp.accept(st)
	}
	if lp.retryNext.IsZero() || now.Before(lp.retryNext) {
		return
	}
	for _, st := range lp.accepting {
		if !st.retryAt.IsZero() && !now.Before(st.retryAt) {
			st.retryAt = time.Time{}
			lp.accept(st) // may back off again
		}
	}
	var next time.Time
	for _, st := range lp.accepting {
		if !st.retryAt.IsZero() && (next.IsZero() || st.retryAt.Before(next)) {
			next = st.retryAt
		}
	}
	lp.retryNext = next
}

// acceptSome accepts clients on the listening socket lfd until it would
// block (EAGAIN), fails, or acceptBatch were taken (nil); lp is the loop
// accepting.
func (p *Proxy) acceptSome(lfd int, lp *loop) (n int, err error) {
	for n < acceptBatch {
		cfd, err := accept4(lfd)
		switch err {
		case nil:
			n++
			p.acceptedFD(cfd, lp)
		case unix.EINTR, unix.ECONNABORTED: // a client gone before accept: the next one
		default:
			return n, err
		}
	}
	return n, nil
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

// acceptedFD starts proxying the client socket cfd unless the connection
// limit is reached: dialed and run by lp, or, when that cannot be done at
// once, served by a goroutine (serveFD).
func (p *Proxy) acceptedFD(cfd int, lp *loop) {
	p.stats.accepted.Add(1)
	e := &connEntry{}
	if !p.track(e) {
		p.stats.failed.Add(1)
		unix.Close(cfd)
		return
	}
	start := time.Now()
	if !p.dialFD(e, cfd, start, lp) {
		go p.serveFD(e, cfd, start, nil, nil)
	}
}
