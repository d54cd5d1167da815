//go:build !linux || l4proxy_portable

package l4proxy

// Accepting with accept4(2) and dialing in the event loops is Linux's
// (rawaccept_linux.go); elsewhere Serve uses ln.Accept.
func (p *Proxy) rawAcceptor(*proxyListener) (func() error, bool) { return nil, false }
