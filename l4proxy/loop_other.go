//go:build !linux || l4proxy_portable

package l4proxy

import "net"

// Event loops are Linux's (loop_linux.go); elsewhere, and with the
// l4proxy_portable build tag, every link runs in goroutines (splice.go).

type elink struct{}

func (*elink) abortAsync() {}

type loopRef struct{}

func (p *Proxy) handoff(*Backend, net.Conn, net.Conn, *connEntry) bool { return false }

func (p *Proxy) releaseLoops() {}
