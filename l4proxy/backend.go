package l4proxy

import (
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
)

// GoneGrace is how long a link to a gone backend (see Backend.Gone) may go
// without progress before it is aborted.
const GoneGrace = time.Second

// retiredBit marks a Backend's state word once it has been retired. The low
// bits hold the open-connection count. Keeping both in one word makes
// "retired and zero" a single atomic observation, so the drained gate can
// close exactly once and nothing can be counted after it.
const retiredBit = int64(1) << 62

// Backend is one upstream address with an exact open-connection count.
//
// A Backend is counted up before every dial and down when the proxied
// connection (or the failed dial) is finished. Once retired (by
// Proxy.Switch or Proxy.Refuse) it accepts no new connections; when its
// count then reaches zero, Drained is closed. That is a one-way gate: a
// Backend whose Drained channel is closed is never dialed again.
//
// A Backend may be the target of several proxies at once (an app whose
// address changed serves its old listener's last clients through the new
// instance): its count is the server's total, and the first Switch away
// from it, on any proxy, retires it everywhere; clients of the others then
// wait for their next Switch (or ConnectTimeout).
//
// All methods are safe for concurrent use. A Backend must not be copied; a
// retired Backend cannot be reused.
type Backend struct {
	addr     string
	loopback bool           // a loopback IP or "localhost": no TCP keepalive needed
	ip       netip.AddrPort // addr as an IP address and port; invalid when addr needs resolving
	state    atomic.Int64   // retiredBit | open connections
	drained  chan struct{}

	// Open links, for Gone. Sharded, so that links attaching and
	// detaching on different cores share no lock (see shardSet).
	links  shardSet[goner]
	gone   atomic.Bool  // Gone was called
	served atomic.Int64 // links ever attached
}

// Served returns how many connections b has carried (dialed and proxied),
// open ones included.
func (b *Backend) Served() int64 { return b.served.Load() }

// carried counts a link whose connect to b has succeeded (see Served).
func (b *Backend) carried() { b.served.Add(1) }

// NewBackend returns a Backend for addr ("host:port"); a host name is
// resolved on every dial.
func NewBackend(addr string) *Backend {
	ip, err := netip.ParseAddrPort(addr)
	if err != nil || ip.Addr().Zone() != "" {
		ip = netip.AddrPort{}
	}
	return &Backend{addr: addr, loopback: isLoopback(addr), ip: ip, drained: make(chan struct{})}
}

// isLoopback reports whether addr is a loopback IP or localhost.
func isLoopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.IsLoopback()
	}
	return strings.EqualFold(host, "localhost")
}

// Addr returns the address given to NewBackend.
func (b *Backend) Addr() string { return b.addr }

// Conns returns the number of open proxied connections to b, including
// connections that are still being dialed.
func (b *Backend) Conns() int64 { return b.state.Load() &^ retiredBit }

// Retired reports whether b was retired by Switch or Refuse.
func (b *Backend) Retired() bool { return b.state.Load()&retiredBit != 0 }

// Drained returns a channel that is closed once b is retired and its count
// is zero. After that b is never dialed again.
func (b *Backend) Drained() <-chan struct{} { return b.drained }

// acquire counts one connection on b. It fails once b is retired, so a
// retired backend's count can only go down, and "retired and zero" is final.
func (b *Backend) acquire() bool {
	for {
		s := b.state.Load()
		if s&retiredBit != 0 {
			return false
		}
		if b.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// release un-counts one connection counted by acquire and closes the drained
// gate if it was the last one on a retired backend.
func (b *Backend) release() {
	if b.state.Add(-1) == retiredBit {
		close(b.drained)
	}
}

// retire stops b from taking new connections. It closes the drained gate at
// once if b has none open. Calling it again does nothing.
func (b *Backend) retire() {
	old := b.state.Or(retiredBit)
	if old == 0 {
		close(b.drained)
	}
}

// Gone tells b that the server behind it has gone away (its process
// exited): every open link to b is wound down at once. A client's bytes can
// reach nobody now, so its direction ends (as if the client had half-closed);
// what the server sent before it went is still delivered to a client that
// keeps reading; and a link whose client or server side makes no progress
// for GoneGrace is aborted. So no link, and no slot under MaxConnections,
// outlives its server by more than GoneGrace unless its client is still
// reading the server's last bytes. Gone does not retire b: retire it
// first (Switch or Refuse), so that no new client is sent to it. A nil
// Backend's Gone does nothing.
func (b *Backend) Gone() {
	if b == nil {
		return
	}
	b.gone.Store(true)
	b.links.each(goneLink)
}

func goneLink(l goner) { l.backendGone(GoneGrace) }

// goner is an open link as its Backend sees it: a goroutine link (splice.go)
// or one in an event loop (elink_linux.go).
type goner interface {
	backendGone(grace time.Duration) // see Backend.Gone; may be called twice
}

// attach lists l (in m) as open on b; if b is gone, l is wound down at
// once. The link is listed before gone is read, and Gone sets gone before
// it walks the list, so every link is reached by one of them (possibly
// both: backendGone may run twice).
func (b *Backend) attach(m *setMember[goner], l goner) {
	b.links.add(m, l)
	if b.gone.Load() {
		l.backendGone(GoneGrace)
	}
}

// detach removes a link attached in m from b's open links.
func (b *Backend) detach(m *setMember[goner]) { b.links.remove(m) }
