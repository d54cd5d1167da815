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
	secs := max(1, int((ka+time.Second-1)/time.Second))
	var err error
	cerr := rc.Control(func(fd uintptr) {
		for _, o := range [...]struct{ level, opt, val int }{
			{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, secs},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, secs},
		} {
			if err == nil {
				err = syscall.SetsockoptInt(int(fd), o.level, o.opt, o.val)
			}
		}
	})
	if cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("set keepalive: %w", err)
	}
	return nil
}
