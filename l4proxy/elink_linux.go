//go:build !l4proxy_portable

package l4proxy

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// loopBudget is how many bytes one direction of a link moves per turn; a
// link with more waits until the loop's other ready links had theirs, so
// one busy connection cannot starve the others on its loop.
const loopBudget = 1 << 20

// elink is a link run by an event loop: the client's and the backend's
// socket (descriptors of its own, duplicated from Go's, which are closed)
// and the two directions between them. Only its loop touches it after
// handoff, except attach/Gone (which post to the loop) and the entry.
type elink struct {
	lp     *loop
	p      *Proxy
	b      *Backend
	e      *connEntry
	member setMember[goner] // in b's open links
	fd     [2]int           // [toBackend] the client's socket, [toClient] the backend's
	d      [2]edir          // indexed by direction; d[i] reads fd[i] and writes fd[1-i]
	done   bool
	queued bool // in lp.again

	// connecting: the backend socket's non-blocking connect (dialFD) has
	// not finished; it must within the dial timeout (and the connect
	// timeout) from accepted.
	connecting bool
	finLooked  bool
	finDir     int8 // the direction still running after the first ended
	accepted   clock

	// Clocks, checked by tick while the link is in lp.timed.
	writeTimeout time.Duration // client write progress timeout; ≤ 0: none
	blockedAt    clock         // a write to the client would block since; 0: none
	acked        uint64        // the client's acknowledged bytes at blockedAt
	finEvery     time.Duration // FinTimeout; ≤ 0: none
	finNext      clock         // 0: no fin watch
	finLast      uint64
	goneAt       clock // the backend went away: no waiting on it after this
}

// clock is a time on the process's monotonic clock, in nanoseconds since
// clockBase; 0 means none. A link has four: at 8 bytes each instead of a
// time.Time's 24, an idle link is 64 bytes smaller.
type clock int64

var clockBase = time.Now()

func clockNow() clock { return clockAt(time.Now()) }

func clockAt(t time.Time) clock { return max(1, clock(t.Sub(clockBase))) }

func (c clock) add(d time.Duration) clock { return c + clock(d) }

func (c clock) time() time.Time { return clockBase.Add(time.Duration(c)) }

// edir is one direction of an elink.
type edir struct {
	c     carrier // the chunk on its way; nil while none (an idle link holds no pipe)
	more  bool    // its budget ran out with bytes left
	bulk  bool    // a read filled the scratch buffer: use pipes (see chunk)
	eof   bool    // ended cleanly: everything written and the half-close sent
	moved int64
}

// handoff gives the dialed link to an event loop: it duplicates both
// sockets' descriptors (Go's are closed: backend here, client by its
// caller), so the loop owns sockets no Go poller watches. It returns false
// (the caller copies in goroutines) if loops are off or unavailable.
func (p *Proxy) handoff(b *Backend, client, backend net.Conn, e *connEntry) bool {
	if e == nil || !p.useLoops() {
		return false
	}
	cfd, ok := dupSocket(client)
	if !ok {
		return false
	}
	bfd, ok := dupSocket(backend)
	if !ok {
		unix.Close(cfd)
		return false
	}
	backend.Close()
	p.startLink(&elink{p: p, b: b, e: e, fd: [2]int{cfd, bfd}, lp: loopFor(cfd),
		writeTimeout: p.clientWriteTimeout(), finEvery: p.finTimeout()}, false)
	return true
}

// useLoops reports whether p's links may go to event loops, starting them
// on first use.
func (p *Proxy) useLoops() bool {
	if loopsDisabled {
		return false
	}
	p.loops.once.Do(func() {
		err := acquireLoops()
		p.loops.ok = err == nil
		if err != nil {
			p.log.Warn("l4proxy: no event loops, copying in goroutines", "err", err)
		}
	})
	return p.loops.ok
}

// startLink hands l, counted on its backend, to its loop; from here the
// loop releases the backend and untracks the client when l ends. inLoop
// says this runs in that loop, which adds l at once.
func (p *Proxy) startLink(l *elink, inLoop bool) {
	if !l.connecting {
		l.b.carried()
	}
	l.b.attach(&l.member, l)
	l.e.handed = true
	l.e.loop.Store(l)
	if inLoop {
		l.add()
	} else {
		l.lp.post(loopMsg{kind: msgAdd, l: l})
	}
	if p.abortingAll.Load() { // Shutdown's closeAll may have passed e before the store
		l.abortAsync()
	}
}

// dupSocket returns a close-on-exec duplicate of c's descriptor; the
// socket stays non-blocking (the flag belongs to the socket, not the
// descriptor).
func dupSocket(c net.Conn) (int, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, false
	}
	nfd := -1
	rc.Control(func(fd uintptr) {
		if n, err := unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0); err == nil {
			nfd = n
		}
	})
	return nfd, nfd >= 0
}

// Why a connect in the loop was given up.
var (
	errBackendGone = errors.New("backend gone while connecting")
	errDialTimeout = errors.New("dial timeout")
)

// connected finishes the backend socket's connect: on success the link
// starts (bytes either side sent meanwhile are moved now); on failure the
// client goes back to a goroutine, which tries the other backends and
// waits for one as any client does (redial).
func (l *elink) connected(ev uint32) {
	soerr, err := unix.GetsockoptInt(l.fd[toClient], unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soerr != 0 {
		err = syscall.Errno(soerr)
	}
	if err != nil {
		l.redial(os.NewSyscallError("connect", err))
		return
	}
	l.start(ev)
}

// start runs l once its backend socket is connected: bytes either side
// sent meanwhile are moved now, then events drive it.
func (l *elink) start(ev uint32) {
	l.connecting = false
	l.b.carried()
	l.event(l.fd[toClient], ev)
	if !l.done && l.d[toBackend].c == nil {
		l.step(toBackend)
	}
}

// tcpEstablished is TCP_ESTABLISHED of linux/tcp_states.h.
const tcpEstablished = 1

// established reports whether socket fd's connect has finished: on
// loopback the handshake is usually done when connect(2) returns, and a
// link that knows it starts without waiting for the loop's next turn.
// (Only TCP_INFO's first byte, the state, is read.)
func established(fd int) bool {
	var info [8]byte
	size := uint32(len(info))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	return errno == 0 && info[0] == tcpEstablished
}

// redial gives up l's connect: the backend socket is closed and its count
// dropped, and the client socket leaves the loop for serveFD, which
// connects it the way a goroutine does (skipping l's backend at first).
func (l *elink) redial(why error) {
	l.done = true
	cfd := l.fd[toBackend]
	unix.EpollCtl(l.lp.epfd, unix.EPOLL_CTL_DEL, cfd, nil)
	for _, fd := range l.fd {
		l.lp.setLink(fd, nil)
	}
	unix.Close(l.fd[toClient])
	delete(l.lp.timed, l)
	l.b.detach(&l.member)
	l.b.release()
	l.e.loop.Store(nil)
	l.e.handed = false
	go l.p.serveFD(l.e, cfd, l.accepted.time(), l.b, why)
}

// abortAsync has the loop abort l (Shutdown's deadline passed).
func (l *elink) abortAsync() { l.lp.post(loopMsg{kind: msgAbort, l: l}) }

// backendGone has the loop wind l down (see Backend.Gone).
func (l *elink) backendGone(grace time.Duration) {
	l.lp.post(loopMsg{kind: msgGone, l: l, grace: grace})
}

// add registers both sockets, edge-triggered for reading and writing.
// Bytes already waiting are reported by the first epoll_wait.
func (l *elink) add() {
	if l.done { // aborted before it was added
		return
	}
	for _, fd := range l.fd {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
		if err := unix.EpollCtl(l.lp.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			l.abort()
			return
		}
		l.lp.setLink(fd, l)
	}
	if l.connecting {
		l.lp.timed[l] = struct{}{}
	}
}

// event handles readiness of one of l's sockets: it reads into a direction
// that holds no chunk, or writes out one that does.
func (l *elink) event(fd int, ev uint32) {
	if l.connecting {
		if fd == l.fd[toClient] && ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			l.connected(ev)
		}
		return // the client's bytes wait in its socket until then
	}
	side := toBackend
	if fd == l.fd[toClient] {
		side = toClient
	}
	const in = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR
	const out = unix.EPOLLOUT | unix.EPOLLHUP | unix.EPOLLERR
	if ev&in != 0 && l.d[side].c == nil { // the direction reading this socket
		l.step(side)
	}
	if w := 1 - side; ev&out != 0 && l.d[w].c != nil && !l.done { // the one writing it
		l.step(w)
	}
}

// resume continues the directions whose budget ran out.
func (l *elink) resume() {
	for i := range l.d {
		if l.d[i].more && !l.done {
			l.d[i].more = false
			l.step(i)
		}
	}
}

// step moves direction i's bytes until a socket would block, the stream
// ends, or its budget is spent (then the link waits its next turn).
func (l *elink) step(i int) {
	d := &l.d[i]
	if d.eof || l.done {
		return
	}
	src, dst := l.fd[i], l.fd[1-i]
	for budget := loopBudget; ; {
		if d.c != nil {
			n, err := d.c.out(dst)
			if n > 0 {
				d.moved += int64(n)
				if i == toClient {
					l.blockedAt = 0 // progress: the next block gets a full timeout
				}
			}
			if err == unix.EAGAIN {
				l.own(d)
				if i == toClient {
					l.writeBlocked()
				}
				return // dst's EPOLLOUT continues
			}
			if err != nil {
				l.own(d)
				l.abort()
				return
			}
			if d.c.pending() > 0 {
				continue
			}
			l.drop(d.c) // empty: back to the pool
			d.c = nil
		}
		if budget <= 0 {
			d.more = true
			if !l.queued {
				l.queued = true
				l.lp.again = append(l.lp.again, l)
			}
			return
		}
		c := l.chunk(d)
		n, err := c.in(src)
		switch {
		case err == unix.EAGAIN:
			l.drop(c)
			return // src's EPOLLIN continues
		case err != nil:
			l.drop(c)
			l.abort()
			return
		case n == 0:
			l.drop(c)
			l.ended(i)
			return
		}
		if !d.bulk && n == len(l.lp.scratch.b) {
			d.bulk = true // a full buffer: more is coming, splice it
		}
		d.c = c
		budget -= n
	}
}

// chunk returns the carrier for d's next read. Until d has filled a whole
// buffer in one read, that is the loop's scratch buffer: small messages
// (requests, responses, keep-alive traffic) cost one read and one write,
// cheaper in the kernel than splicing into a pipe and out of it. After, a
// pipe: bulk bytes never enter user space.
func (l *elink) chunk(d *edir) carrier {
	if d.bulk {
		return newCarrier()
	}
	return l.lp.scratch
}

// own gives d a buffer of its own for what is left of the scratch buffer,
// when d must keep its chunk until dst can take it.
func (l *elink) own(d *edir) {
	s := l.lp.scratch
	if d.c != carrier(s) {
		return
	}
	b := bufs.Get().(*buffer)
	b.start, b.end = 0, copy(b.b, s.b[s.start:s.end])
	s.start, s.end = 0, 0
	d.c = b
}

// drop releases an empty or abandoned carrier; the scratch buffer stays
// the loop's.
func (l *elink) drop(c carrier) {
	if s := l.lp.scratch; c == carrier(s) {
		s.start, s.end = 0, 0
		return
	}
	c.release()
}

// ended: direction i met its source's EOF with everything written. The
// half-close is forwarded; once both ended the link is done, else the
// other direction is watched for FinTimeout.
func (l *elink) ended(i int) {
	l.d[i].eof = true
	if l.d[1-i].eof {
		l.finish()
		return
	}
	unix.Shutdown(l.fd[1-i], unix.SHUT_WR)
	if l.finEvery > 0 {
		l.finDir = int8(1 - i)
		l.finNext = clockNow().add(l.finEvery)
		l.lp.timed[l] = struct{}{}
	}
}

// writeBlocked starts the client write clock unless it already runs.
func (l *elink) writeBlocked() {
	if l.writeTimeout <= 0 || l.blockedAt != 0 {
		return
	}
	l.blockedAt = clockNow()
	l.acked = tcpInfoFD(l.fd[toBackend]).Bytes_acked
	l.lp.timed[l] = struct{}{}
}

// gone winds l down after its backend's server went away (see
// Backend.Gone): the client's direction ends at once (its read side is
// shut), the client write clock shortens to grace and starts now, and
// after grace nothing may wait on the backend any more.
func (l *elink) gone(grace time.Duration) {
	if l.done {
		return
	}
	if l.connecting {
		l.redial(errBackendGone)
		return
	}
	unix.Shutdown(l.fd[toBackend], unix.SHUT_RD)
	l.goneAt = clockNow().add(grace)
	if l.writeTimeout <= 0 || grace < l.writeTimeout {
		l.writeTimeout = grace
	}
	if l.d[toClient].c != nil { // a write to the client is blocked now: its clock restarts with grace
		l.blockedAt = clockNow()
		l.acked = tcpInfoFD(l.fd[toBackend]).Bytes_acked
	}
	l.lp.timed[l] = struct{}{}
	if l.d[toBackend].c == nil && l.lp.link(l.fd[toBackend]) == l {
		l.step(toBackend) // reads the EOF the shutdown made
	}
}

// tick checks l's clocks.
func (l *elink) tick(now clock) {
	if l.done {
		delete(l.lp.timed, l)
		return
	}
	if l.connecting {
		if now >= l.accepted.add(min(l.p.dialTimeout(), l.p.connectTimeout())) {
			l.redial(errDialTimeout)
		}
		return
	}
	if l.blockedAt != 0 && now >= l.blockedAt.add(l.writeTimeout) {
		acked := tcpInfoFD(l.fd[toBackend]).Bytes_acked
		if acked == l.acked { // the client took nothing for writeTimeout
			l.abort()
			return
		}
		l.blockedAt, l.acked = now, acked // reading slowly, but reading
	}
	if l.finNext != 0 && now >= l.finNext {
		src, dst := l.fd[l.finDir], l.fd[1-l.finDir]
		progress := tcpInfoFD(src).Bytes_received + tcpInfoFD(dst).Bytes_acked
		if l.finLooked && progress == l.finLast {
			l.abort()
			return
		}
		l.finLast, l.finLooked, l.finNext = progress, true, now.add(l.finEvery)
	}
	if l.goneAt != 0 && now >= l.goneAt {
		// Still reading from the backend, or writing to it: it is not
		// there. (A direction blocked writing to the client is the write
		// clock's.)
		if !l.d[toBackend].eof || (!l.d[toClient].eof && l.d[toClient].c == nil) {
			l.abort()
			return
		}
	}
	if l.blockedAt == 0 && l.finNext == 0 && l.goneAt == 0 { // (connecting returned above)
		delete(l.lp.timed, l)
	}
}

// abort closes both sockets, resetting each unless the stream towards it
// ended cleanly (as link.abort does).
func (l *elink) abort() {
	if l.done {
		return
	}
	if !l.d[toClient].eof {
		setLingerZeroFD(l.fd[toBackend])
	}
	if !l.d[toBackend].eof {
		setLingerZeroFD(l.fd[toClient])
	}
	l.finish()
}

// finish closes l (closing a socket takes it out of the epoll set) and
// drops its counts: the backend's connection, the proxy's client, stats.
func (l *elink) finish() {
	l.done = true
	for i := range l.d {
		if c := l.d[i].c; c != nil {
			c.release() // a pipe with bytes left is closed, not pooled
			l.d[i].c = nil
		}
	}
	for _, fd := range l.fd {
		if l.lp.link(fd) == l {
			l.lp.setLink(fd, nil)
		}
		unix.Close(fd)
	}
	delete(l.lp.timed, l)
	l.p.stats.bytesIn.Add(uint64(l.d[toBackend].moved))
	l.p.stats.bytesOut.Add(uint64(l.d[toClient].moved))
	l.b.detach(&l.member)
	l.b.release()
	l.p.untrack(l.e)
}

func setLingerZeroFD(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
}

// tcpInfoFD returns fd's TCP_INFO, or zeros if it cannot be read.
func tcpInfoFD(fd int) unix.TCPInfo {
	if ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
		return *ti
	}
	return unix.TCPInfo{}
}
