package l4proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
)

// copyConn copies direction dir of l, src to dst, until src's EOF (nil) or
// an error. Sockets go through a stream where the system has one (splice
// through pooled pipes on Linux); anything else through a buffer.
func (l *link) copyConn(dir int, dst, src net.Conn, guard *writeGuard) (int64, error) {
	if s, ok := newStream(dst, src, guard); ok {
		return s.run()
	}
	return copyBuffered(dst, src, guard, &l.moved[dir])
}

// buffer is a user-space chunk: the portable copy's, and the carrier a
// stream falls back to when it cannot have a pipe.
type buffer struct {
	b          []byte
	start, end int
}

const bufferSize = 32 << 10

var bufs = sync.Pool{New: func() any { return &buffer{b: make([]byte, bufferSize)} }}

// copyBuffered is the portable copy: read a chunk, write it under the
// guard, count it in moved.
func copyBuffered(dst, src net.Conn, guard *writeGuard, moved *atomic.Uint64) (int64, error) {
	buf := bufs.Get().(*buffer)
	defer bufs.Put(buf)
	var total int64
	for {
		n, rerr := src.Read(buf.b)
		if n > 0 {
			if err := writeGuarded(dst, buf.b[:n], guard); err != nil {
				return total, err
			}
			total += int64(n)
			moved.Add(uint64(n))
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// writeGuarded writes all of b, with the guard's deadline on every write
// (a blocking write gives no sign that it waits, so each one is armed).
func writeGuarded(dst net.Conn, b []byte, g *writeGuard) error {
	defer g.idle()
	for len(b) > 0 {
		g.blocked()
		n, err := dst.Write(b)
		b = b[n:]
		if n > 0 {
			g.progressed()
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded) && (n > 0 || g.extend()):
		default:
			return err
		}
	}
	return nil
}
