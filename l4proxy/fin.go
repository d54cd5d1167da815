package l4proxy

import (
	"net"
	"sync"
	"time"
)

// finWatch enforces FinTimeout on a half-closed link: every FinTimeout it
// reads the progress of the direction still running (on Linux the kernel's
// byte counters, TCP_INFO; elsewhere the bytes the copy moved), and aborts
// the link if nothing moved since the last look. The counters make progress
// visible without setting deadlines on the connections. The first look only takes the baseline, so
// the many links that close soon after a half-close cost no system call.
type finWatch struct {
	l        *link
	dir      int      // the direction still running
	src, dst net.Conn // its sockets
	every    time.Duration
	mu       sync.Mutex
	timer    *time.Timer
	last     uint64
	looked   bool // last is valid
	stopped  bool
}

// watchFin starts watching direction dir of l.
func watchFin(l *link, dir int, every time.Duration) *finWatch {
	w := &finWatch{l: l, dir: dir, src: l.backend, dst: l.client, every: every}
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
