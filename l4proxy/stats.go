package l4proxy

import "sync/atomic"

// Stats is a snapshot of a Proxy's counters.
type Stats struct {
	Active   int64  // client connections open now
	Accepted uint64 // client connections accepted since start
	Failed   uint64 // client connections closed without reaching a backend
	Waited   uint64 // client connections that had to wait for a backend
	BytesIn  uint64 // bytes copied client → backend (counted when a direction ends)
	BytesOut uint64 // bytes copied backend → client (counted when a direction ends)
	// AcceptErrors counts failed accepts (e.g. EMFILE); Serve backs off
	// and retries them.
	AcceptErrors uint64
	// ProxyHeaderRejected counts clients closed before reaching a backend
	// because of AcceptProxyProtocol: from an untrusted address, with a
	// missing or malformed PROXY header, or without one in time. They are
	// not counted in Failed.
	ProxyHeaderRejected uint64
}

// stats holds the live counters; every field is an atomic.
type stats struct {
	active    atomic.Int64
	accepted  atomic.Uint64
	failed    atomic.Uint64
	waited    atomic.Uint64
	bytesIn   atomic.Uint64
	bytesOut  atomic.Uint64
	acceptErr atomic.Uint64
	rejected  atomic.Uint64
}

// Stats returns a snapshot of the proxy's counters.
func (p *Proxy) Stats() Stats {
	s := &p.stats
	return Stats{
		Active:       s.active.Load(),
		Accepted:     s.accepted.Load(),
		Failed:       s.failed.Load(),
		Waited:       s.waited.Load(),
		BytesIn:      s.bytesIn.Load(),
		BytesOut:     s.bytesOut.Load(),
		AcceptErrors: s.acceptErr.Load(),

		ProxyHeaderRejected: s.rejected.Load(),
	}
}
