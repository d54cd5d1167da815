package l4proxy

import (
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// finWatch enforces FinTimeout on a half-closed link: every FinTimeout it
// reads the kernel's byte counters (TCP_INFO) of the direction still
// running, and aborts the link if no byte moved since the last look. The
// counters make progress visible without wrapping the connections or
// setting deadlines on them. The first look only takes the baseline, so
// the many links that close soon after a half-close cost no system call.
type finWatch struct {
	l        *link
	src, dst net.Conn // the direction still running
	every    time.Duration
	mu       sync.Mutex
	timer    *time.Timer
	last     uint64
	looked   bool // last is valid
	stopped  bool
}

// watchFin starts watching direction dir of l.
func watchFin(l *link, dir int, every time.Duration) *finWatch {
	w := &finWatch{l: l, src: l.backend, dst: l.client, every: every}
	if dir == toBackend {
		w.src, w.dst = l.client, l.backend
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = time.AfterFunc(every, w.check)
	return w
}

// check runs on the timer: abort if idle, else look again later.
func (w *finWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	now := w.progress()
	if w.looked && now == w.last {
		w.l.abort()
		return
	}
	w.last, w.looked = now, true
	w.timer.Reset(w.every)
}

// stop ends the watch; nil-safe, as most links never half-close.
func (w *finWatch) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.timer.Stop()
}

// progress is bytes received on src plus bytes acknowledged on dst: it
// grows while the peer sends, and while the other peer reads.
func (w *finWatch) progress() uint64 {
	return tcpInfo(w.src).Bytes_received + tcpInfo(w.dst).Bytes_acked
}

// tcpInfo returns c's TCP_INFO, or zeros if it cannot be read.
func tcpInfo(c net.Conn) (info unix.TCPInfo) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return info
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return info
	}
	rc.Control(func(fd uintptr) {
		if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			info = *ti
		}
	})
	return info
}

// ackedBytes returns how many bytes c's peer has acknowledged, if the
// system tells.
func ackedBytes(c net.Conn) (uint64, bool) {
	if _, ok := c.(syscall.Conn); !ok {
		return 0, false
	}
	return tcpInfo(c).Bytes_acked, true
}
