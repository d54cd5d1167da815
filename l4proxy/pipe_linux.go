//go:build !l4proxy_portable

package l4proxy

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Pipe sizing and pooling. A link holds a pipe only while a chunk is on its
// way (see copyChunk), so an idle connection holds none. Freed pipes wait
// in a pool for the next chunk; one unused for pipeIdleTimeout is closed,
// so a flood of short connections leaves no pipes behind for long (Go's own
// splice pool keeps them until the garbage collector runs, which on an idle
// daemon can take minutes).
const (
	// maxChunk is the most one splice call moves, and the pipe size asked
	// for (the kernel's default limit for unprivileged processes).
	maxChunk = 1 << 20
	// pipeIdleTimeout is how long a pooled pipe may stay unused.
	pipeIdleTimeout = 500 * time.Millisecond
	// maxPooledPipes bounds the pool; pipes freed beyond it are closed.
	maxPooledPipes = 256
)

// pipe is one kernel pipe and the bytes in it.
type pipe struct {
	r, w     int       // read and write ends
	buffered int       // bytes spliced in and not yet out
	freed    time.Time // when it went back to the pool
}

func newPipe() (*pipe, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	// A bigger pipe moves more per system call; the kernel allocates its
	// pages only as they fill. Failure leaves the default (64 KiB).
	_, _ = unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, maxChunk)
	return &pipe{r: fds[0], w: fds[1]}, nil
}

func (p *pipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// pipePool is a LIFO of empty pipes. The most recently freed pipe is reused
// first, so the ones at the bottom are the oldest, and the sweep that runs
// while the pool is not empty closes them once they idled long enough.
type pipePool struct {
	mu    sync.Mutex // guards the fields below
	free  []*pipe    // oldest first
	sweep *time.Timer
}

// pipes is shared by every proxy of the process: pipes carry no state
// between chunks, and one pool keeps the number of idle ones low.
var pipes pipePool

// get returns an empty pipe, reused or new.
func (pp *pipePool) get() (*pipe, error) {
	pp.mu.Lock()
	if n := len(pp.free); n > 0 {
		p := pp.free[n-1]
		pp.free[n-1] = nil
		pp.free = pp.free[:n-1]
		pp.mu.Unlock()
		return p, nil
	}
	pp.mu.Unlock()
	return newPipe()
}

// put returns p for reuse. A pipe that still holds bytes (its chunk was
// abandoned) is closed, as are pipes beyond the pool's bound.
func (pp *pipePool) put(p *pipe) {
	if p.buffered != 0 {
		p.close()
		return
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if len(pp.free) >= maxPooledPipes {
		p.close()
		return
	}
	p.freed = time.Now()
	pp.free = append(pp.free, p)
	if pp.sweep == nil {
		pp.sweep = time.AfterFunc(pipeIdleTimeout, pp.closeIdle)
	}
}

// closeIdle closes the pipes that idled for pipeIdleTimeout and runs again
// while any are left.
func (pp *pipePool) closeIdle() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	cutoff := time.Now().Add(-pipeIdleTimeout)
	n := 0
	for n < len(pp.free) && !pp.free[n].freed.After(cutoff) {
		pp.free[n].close()
		n++
	}
	rest := copy(pp.free, pp.free[n:])
	clear(pp.free[rest:])
	pp.free = pp.free[:rest]
	if len(pp.free) == 0 {
		pp.sweep = nil
		return
	}
	pp.sweep.Reset(pp.free[0].freed.Add(pipeIdleTimeout).Sub(time.Now()) + time.Millisecond)
}

// idle reports how many pipes the pool holds, for tests.
func (pp *pipePool) idle() int {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return len(pp.free)
}
