package l4proxy

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// progress is bytes received on src plus bytes acknowledged on dst: it
// grows while the peer sends, and while the other peer reads (even while
// the copy itself waits on a full socket).
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
