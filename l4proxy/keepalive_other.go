//go:build !linux

package l4proxy

import "net"

// listenerKeepAlive: whether accepted sockets inherit the listening
// socket's keepalive options differs between systems, so Go sets them on
// each accepted socket.
const listenerKeepAlive = false

func (p *Proxy) listenConfig() net.ListenConfig {
	ka := p.clientKeepAlive()
	return net.ListenConfig{KeepAlive: ka, KeepAliveConfig: net.KeepAliveConfig{Enable: ka > 0, Idle: ka, Interval: ka}}
}
