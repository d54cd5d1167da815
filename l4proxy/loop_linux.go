//go:build !l4proxy_portable

package l4proxy

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DataPlaneEnv, set to "goroutines" in the environment, makes the proxy
// copy every link in two goroutines (the portable design) instead of the
// event loops; for comparisons, and as a way out should a loop misbehave.
const DataPlaneEnv = "GRACEVISOR_DATAPLANE"

var loopsDisabled = os.Getenv(DataPlaneEnv) == "goroutines"

// tickEvery is how often a loop looks at its links' clocks (write
// progress, FinTimeout, a gone backend's grace) while any is running; the
// timeouts are that much late at most.
const tickEvery = 100 * time.Millisecond

// A loop is one goroutine waiting in epoll_wait(2) for the sockets of many
// links and moving their bytes (elink_linux.go). Links are handed to it
// through its inbox; everything else about a link is the loop's alone, so
// a link needs no lock and no goroutine.
type loop struct {
	epfd, evfd int
	links      []*elink // by socket descriptor, both of each link (see link)
	timed      map[*elink]struct{}
	again      []*elink // links with bytes left when their budget ran out
	scratch    *buffer  // small reads' chunk, while a link's direction is not bulk (elink.chunk)
	lastTick   time.Time

	// Listeners this loop accepts from (rawaccept_linux.go), by their
	// duplicate descriptor; those with clients left after a batch; the
	// earliest end of an accept backoff (zero: none).
	accepting   map[int32]*acceptState
	acceptQueue []*acceptState
	retryNext   time.Time

	mu    sync.Mutex // guards inbox and stop
	inbox []loopMsg
	stop  bool
	done  chan struct{}
}

// loopMsg is a request to a loop from another goroutine.
type loopMsg struct {
	kind  int // msgAdd, msgGone, msgAbort, msgListen, msgUnlisten
	l     *elink
	grace time.Duration
	a     *acceptor
}

const (
	msgAdd = iota
	msgGone
	msgAbort
	msgListen
	msgUnlisten
)

// loops are shared by every proxy of the process: they are started when
// the first proxy hands over a link and stopped when the last one that did
// has shut down.
var loops struct {
	mu   sync.Mutex
	refs int
	all  []*loop
}

// loopRef is a proxy's hold on the loops.
type loopRef struct {
	once    sync.Once
	ok      bool
	release sync.Once
}

// numLoops is one loop per core but one: the Go runtime hands a loop's P
// away while it sleeps in epoll_wait, and a spare P keeps accept, dials and
// the PROXY-header reads, which stay in goroutines, running.
func numLoops() int { return max(1, runtime.GOMAXPROCS(0)-1) }

func acquireLoops() error {
	loops.mu.Lock()
	defer loops.mu.Unlock()
	if loops.refs == 0 {
		for range numLoops() {
			lp, err := newLoop()
			if err != nil {
				stopLoops()
				return err
			}
			loops.all = append(loops.all, lp)
			go lp.run()
		}
	}
	loops.refs++
	return nil
}

func releaseLoopsRef() {
	loops.mu.Lock()
	defer loops.mu.Unlock()
	if loops.refs--; loops.refs == 0 {
		stopLoops()
	}
}

// stopLoops stops every loop and waits for it; loops.mu is held.
func stopLoops() {
	for _, lp := range loops.all {
		lp.mu.Lock()
		lp.stop = true
		lp.mu.Unlock()
		lp.wake()
		<-lp.done
	}
	loops.all = nil
}

// loopFor returns the loop a link whose client socket is fd goes to. The
// caller holds a loopRef.
func loopFor(fd int) *loop {
	all := loops.all
	return all[fd%len(all)]
}

// releaseLoops drops p's hold on the loops, once, after its last link
// ended (Shutdown).
func (p *Proxy) releaseLoops() {
	p.loops.release.Do(func() {
		if p.loops.ok {
			releaseLoopsRef()
		}
	})
}

func newLoop() (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &loop{epfd: epfd, evfd: evfd, scratch: &buffer{b: make([]byte, bufferSize)}, timed: make(map[*elink]struct{}),
		accepting: make(map[int32]*acceptState),
		done:      make(chan struct{})}, nil
}

// post queues m for the loop and wakes it if its inbox was empty (a loop
// empties the whole inbox on each wake-up).
func (lp *loop) post(m loopMsg) {
	lp.mu.Lock()
	lp.inbox = append(lp.inbox, m)
	first := len(lp.inbox) == 1
	lp.mu.Unlock()
	if first {
		lp.wake()
	}
}

func (lp *loop) wake() {
	one := [8]byte{1}
	for {
		if _, err := unix.Write(lp.evfd, one[:]); err != unix.EINTR {
			return // EAGAIN: the counter is full, the loop is awake anyway
		}
	}
}

// run is the loop's goroutine.
func (lp *loop) run() {
	defer close(lp.done)
	defer unix.Close(lp.epfd)
	defer unix.Close(lp.evfd)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(lp.epfd, events, lp.timeout())
		if err != nil && !errors.Is(err, unix.EINTR) {
			panic(os.NewSyscallError("epoll_wait", err)) // EBADF, EFAULT, EINVAL: a bug
		}
		woken := false
		for _, ev := range events[:max(n, 0)] {
			if ev.Fd == int32(lp.evfd) {
				woken = true
				continue
			}
			if l := lp.link(int(ev.Fd)); l != nil {
				l.event(int(ev.Fd), ev.Events)
			} else if st := lp.accepting[ev.Fd]; st != nil {
				lp.accept(st)
			}
		}
		if woken && !lp.readInbox() {
			return
		}
		lp.runAgain()
		if len(lp.acceptQueue) > 0 || !lp.retryNext.IsZero() {
			lp.retryAccepts(time.Now())
		}
		if len(lp.timed) > 0 {
			if now := time.Now(); now.Sub(lp.lastTick) >= tickEvery {
				lp.lastTick = now
				at := clockAt(now)
				for l := range lp.timed {
					l.tick(at)
				}
			}
		}
	}
}

// timeout is how long epoll_wait may sleep, in milliseconds (-1: until an
// event): not at all while links or listeners wait for their next turn,
// until the next accept retry, and until the next tick while links have
// clocks running.
func (lp *loop) timeout() int {
	if len(lp.again) > 0 || len(lp.acceptQueue) > 0 {
		return 0
	}
	ms := -1
	if len(lp.timed) > 0 {
		ms = int(tickEvery / time.Millisecond)
	}
	if !lp.retryNext.IsZero() {
		retry := int((time.Until(lp.retryNext) + time.Millisecond - 1) / time.Millisecond)
		if ms < 0 || retry < ms {
			ms = max(retry, 0)
		}
	}
	return ms
}

// link returns the link socket fd belongs to, or nil. Links are found by
// descriptor in a slice, not a map: descriptors are small and reused, and
// a slot costs 8 bytes where a map entry costs several times that.
func (lp *loop) link(fd int) *elink {
	if fd < len(lp.links) {
		return lp.links[fd]
	}
	return nil
}

// setLink sets (or, with nil, clears) the link socket fd belongs to.
func (lp *loop) setLink(fd int, l *elink) {
	if fd >= len(lp.links) {
		if l == nil {
			return
		}
		grown := make([]*elink, max(fd+1, 2*len(lp.links), 64))
		copy(grown, lp.links)
		lp.links = grown
	}
	lp.links[fd] = l
}

// readInbox handles the posted messages; false means stop.
func (lp *loop) readInbox() bool {
	var buf [8]byte
	unix.Read(lp.evfd, buf[:])
	lp.mu.Lock()
	msgs, stop := lp.inbox, lp.stop
	lp.inbox = nil
	lp.mu.Unlock()
	for _, m := range msgs {
		switch m.kind {
		case msgAdd:
			m.l.add()
		case msgGone:
			m.l.gone(m.grace)
		case msgAbort:
			m.l.abort()
		case msgListen:
			lp.listen(m.a)
		case msgUnlisten:
			lp.unlisten(m.a)
		}
	}
	return !stop
}

// runAgain gives the links whose budget ran out their next turn.
func (lp *loop) runAgain() {
	again := lp.again
	lp.again = nil
	for _, l := range again {
		l.queued = false
		l.resume()
	}
}
