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

	// The chunk on its way and the last system call's result, which the
	// poller callbacks below fill in. The callbacks are bound once per
	// stream, so that moving a chunk allocates nothing.
	c                      carrier
	n                      int
	err                    error
	onReadable, onWritable func(fd uintptr) bool
}

// newStream returns the stream from src to dst, or false when either is not
// a socket with a file descriptor (the caller falls back to io.Copy).
func newStream(dst, src net.Conn, guard *writeGuard) (*stream, bool) {
	s := &stream{guard: guard}
	s.onReadable, s.onWritable = s.readChunk, s.writeChunk
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
	s.c, s.n, s.err = nil, 0, nil
	rerr := s.src.Read(s.onReadable)
	c := s.c
	s.c = nil
	switch {
	case rerr != nil: // closed, or a deadline passed; the carrier was released
		return nil, rerr
	case s.err != nil:
		c.release()
		return nil, os.NewSyscallError("read", s.err)
	case s.n == 0:
		c.release()
		return nil, nil
	}
	return c, nil
}

// readChunk is fill's poller callback: it moves what src has into a
// carrier taken now, and gives the carrier back if there was nothing.
func (s *stream) readChunk(fd uintptr) bool {
	if s.c == nil {
		s.c = newCarrier()
	}
	s.n, s.err = s.c.in(int(fd))
	if s.err == unix.EAGAIN {
		s.c.release() // hold nothing while src is idle
		s.c = nil
		return false
	}
	return true
}

// drain writes the carrier's bytes to dst. While dst cannot take more, the
// write guard's deadline runs.
func (s *stream) drain(c carrier) error {
	defer s.guard.idle()
	s.c = c
	defer func() { s.c = nil }()
	for {
		s.err = nil
		werr := s.dst.Write(s.onWritable)
		switch {
		case errors.Is(werr, os.ErrDeadlineExceeded) && s.guard.extend():
			continue // the peer is reading, only slowly
		case werr != nil:
			return werr
		case s.err != nil:
			return os.NewSyscallError("write", s.err)
		}
		return nil
	}
}

// writeChunk is drain's poller callback: it writes the carrier out until
// it is empty, dst would block (the guard's clock starts), or an error.
func (s *stream) writeChunk(fd uintptr) bool {
	for s.c.pending() > 0 {
		var n int
		if n, s.err = s.c.out(int(fd)); n > 0 {
			s.guard.progressed()
		}
		if s.err == unix.EAGAIN {
			s.guard.blocked()
			return false
		}
		if s.err != nil {
			return true
		}
	}
	return true
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
