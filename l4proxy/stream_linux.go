//go:build !l4proxy_portable

package l4proxy

import (
	"errors"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// stream moves one direction of a link: bytes from src to dst, chunk by
// chunk, on non-blocking sockets through Go's poller (RawConn), so deadlines
// and Close wake it like any other read or write.
//
// A chunk is a kernel pipe taken from the pool only once src has bytes:
// splice(2) moves them from src into the pipe and from the pipe to dst, and
// the pipe goes back to the pool when it is empty again. An idle direction
// therefore holds no pipe. When no pipe can be made (out of descriptors),
// a chunk is a user-space buffer instead.
type stream struct {
	src, dst syscall.RawConn
	guard    *writeGuard // progress timeout on writes to dst; nil: none
}

// newStream returns the stream from src to dst, or false when either is not
// a socket with a file descriptor (the caller falls back to io.Copy).
func newStream(dst, src net.Conn, guard *writeGuard) (*stream, bool) {
	s := &stream{guard: guard}
	var err error
	if s.src, err = rawConn(src); err != nil {
		return nil, false
	}
	if s.dst, err = rawConn(dst); err != nil {
		return nil, false
	}
	return s, true
}

func rawConn(c net.Conn) (syscall.RawConn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// run moves bytes until src's EOF (nil) or an error, and returns how many
// reached dst.
func (s *stream) run() (int64, error) {
	var total int64
	for {
		c, err := s.fill()
		if err != nil || c == nil {
			return total, err
		}
		n := c.pending()
		err = s.drain(c)
		total += int64(n - c.pending())
		c.release()
		if err != nil {
			return total, err
		}
	}
}

// fill waits until src has bytes and moves a chunk of them into a carrier.
// It returns nil, nil at src's EOF.
func (s *stream) fill() (carrier, error) {
	var c carrier
	var n int
	var err error
	rerr := s.src.Read(func(fd uintptr) bool {
		if c == nil {
			c = newCarrier()
		}
		n, err = c.in(int(fd))
		if err == unix.EAGAIN {
			c.release() // hold nothing while src is idle
			c = nil
			return false
		}
		return true
	})
	switch {
	case rerr != nil: // closed, or a deadline passed; c was released
		return nil, rerr
	case err != nil:
		c.release()
		return nil, os.NewSyscallError("read", err)
	case n == 0:
		c.release()
		return nil, nil
	}
	return c, nil
}

// drain writes the carrier's bytes to dst. While dst cannot take more, the
// write guard's deadline runs.
func (s *stream) drain(c carrier) error {
	defer s.guard.idle()
	for {
		var err error
		werr := s.dst.Write(func(fd uintptr) bool {
			for c.pending() > 0 {
				var n int
				if n, err = c.out(int(fd)); n > 0 {
					s.guard.progressed()
				}
				if err == unix.EAGAIN {
					s.guard.blocked()
					return false
				}
				if err != nil {
					return true
				}
			}
			return true
		})
		switch {
		case errors.Is(werr, os.ErrDeadlineExceeded) && s.guard.extend():
			continue // the peer is reading, only slowly
		case werr != nil:
			return werr
		case err != nil:
			return os.NewSyscallError("write", err)
		}
		return nil
	}
}

// A carrier holds one chunk on its way from one socket to another.
type carrier interface {
	in(fd int) (int, error)  // from the source socket; 0 bytes at EOF
	out(fd int) (int, error) // to the destination socket
	pending() int            // bytes in and not yet out
	release()                // done with it (a pipe with bytes left is closed)
}

// newCarrier returns a pooled pipe, or a buffer when no pipe can be had.
func newCarrier() carrier {
	p, err := pipes.get()
	if err != nil {
		return bufs.Get().(*buffer)
	}
	return p
}

// splice moves up to n bytes from rfd to wfd without blocking. (The
// result's type differs between architectures in x/sys.)
func splice(rfd, wfd, n int) (int, error) {
	m, err := unix.Splice(rfd, nil, wfd, nil, n, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
	return int(m), err
}

func (p *pipe) in(fd int) (int, error) {
	n, err := retryEINTR(func() (int, error) { return splice(fd, p.w, maxChunk) })
	p.buffered += max(n, 0)
	return n, err
}

func (p *pipe) out(fd int) (int, error) {
	n, err := retryEINTR(func() (int, error) { return splice(p.r, fd, p.buffered) })
	p.buffered -= max(n, 0)
	return n, err
}

func (p *pipe) pending() int { return p.buffered }
func (p *pipe) release()     { pipes.put(p) }

// A buffer (copy.go) is the fallback carrier: a user-space copy.

func (b *buffer) in(fd int) (int, error) {
	n, err := retryEINTR(func() (int, error) { return unix.Read(fd, b.b) })
	b.start, b.end = 0, max(n, 0)
	return n, err
}

func (b *buffer) out(fd int) (int, error) {
	n, err := retryEINTR(func() (int, error) { return unix.Write(fd, b.b[b.start:b.end]) })
	b.start += max(n, 0)
	return n, err
}

func (b *buffer) pending() int { return b.end - b.start }
func (b *buffer) release()     { b.start, b.end = 0, 0; bufs.Put(b) }

func retryEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != unix.EINTR {
			return n, err
		}
	}
}
