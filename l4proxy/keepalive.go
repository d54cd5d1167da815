package l4proxy

import (
	"context"
	"net"
	"time"
)

// Listen announces on the TCP address addr ("host:port") for Serve. It sets
// the proxy's client keepalive on the listening socket, from which Linux
// copies it to every accepted connection, so Serve spends no system call
// per accept on keepalive (net.Listen's listener spends four), and Serve
// accepts from it directly (see Adopt). Prefer it to net.Listen; the
// listener behaves like a *net.TCPListener otherwise.
func (p *Proxy) Listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := p.listenConfig()
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err // a *net.OpError: it names the address already
	}
	return &proxyListener{Listener: ln, keepAlive: listenerKeepAlive}, nil
}

func (p *Proxy) clientKeepAlive() time.Duration {
	if p.KeepAlive == 0 {
		return DefaultKeepAlive
	}
	return p.KeepAlive
}

// setClientKeepAlive applies a non-zero KeepAlive to a connection accepted
// from a foreign listener. Zero leaves that listener's setting (net.Listen
// enables 15 s), saving system calls.
func (p *Proxy) setClientKeepAlive(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok || p.KeepAlive == 0 {
		return
	}
	if p.KeepAlive < 0 {
		tc.SetKeepAlive(false)
		return
	}
	tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: p.KeepAlive, Interval: p.KeepAlive})
}
