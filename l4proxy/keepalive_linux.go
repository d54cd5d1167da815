package l4proxy

import (
	"fmt"
	"net"
	"syscall"
	"time"
)

// listenerKeepAlive: accepted sockets inherit the listening socket's
// keepalive options, so Listen sets them once.
const listenerKeepAlive = true

func (p *Proxy) listenConfig() net.ListenConfig {
	return net.ListenConfig{KeepAlive: -1, Control: p.setListenerKeepAlive}
}

// setListenerKeepAlive is a net.ListenConfig.Control function.
func (p *Proxy) setListenerKeepAlive(_, _ string, rc syscall.RawConn) error {
	ka := p.clientKeepAlive()
	if ka < 0 {
		return nil // accepted sockets start with keepalive off
	}
	var err error
	if cerr := rc.Control(func(fd uintptr) { err = setKeepAliveFD(int(fd), ka) }); cerr != nil {
		return cerr
	}
	return err
}

// setKeepAliveFD turns TCP keepalive on for socket fd, with ka as the idle
// time and the probe interval (whole seconds, at least one).
func setKeepAliveFD(fd int, ka time.Duration) error {
	secs := max(1, int((ka+time.Second-1)/time.Second))
	for _, o := range [...]struct{ level, opt, val int }{
		{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
		{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, secs},
		{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, secs},
	} {
		if err := syscall.SetsockoptInt(fd, o.level, o.opt, o.val); err != nil {
			return fmt.Errorf("set keepalive: %w", err)
		}
	}
	return nil
}
