package l4proxy

import (
	"slices"
	"sync/atomic"
)

// target is one immutable routing decision. Switch, SwitchSet and Refuse
// replace it as a whole and close the old one's changed channel, which wakes
// every client connection waiting on that decision.
type target struct {
	backends []*Backend    // empty: no backend; wait (or refuse)
	refuse   bool          // close new and waiting connections at once
	changed  chan struct{} // closed when this target is replaced
	next     atomic.Uint32 // round-robin start among equally loaded backends
}

// Switch sends new connections to b; open connections stay where they are.
// With b == nil new connections wait up to ConnectTimeout for the next
// Switch. The previous backend, if any and different from b, is retired
// (see Backend.Drained) and returned; otherwise Switch returns nil. With
// several backends before (SwitchSet), the first one retired is returned
// and all but b are retired. Switching to a retired backend behaves like
// Switch(nil).
func (p *Proxy) Switch(b *Backend) (old *Backend) {
	var bs []*Backend
	if b != nil {
		bs = []*Backend{b}
	}
	if retired := p.SwitchSet(bs); len(retired) > 0 {
		return retired[0]
	}
	return nil
}

// SwitchSet sends new connections to the backends in bs: each new
// connection goes to the one with the fewest open connections, ties taken
// in turn (round robin). Open connections stay where they are. Backends of
// the previous set that are not in bs are retired and returned, in the
// previous set's order. An empty bs behaves like Switch(nil); retired
// backends in bs are skipped.
func (p *Proxy) SwitchSet(bs []*Backend) (retired []*Backend) {
	live := make([]*Backend, 0, len(bs))
	for _, b := range bs {
		if b != nil && !b.Retired() {
			live = append(live, b)
		}
	}
	return p.replace(&target{backends: live})
}

// Refuse closes new connections, and those waiting for a backend, at once
// until the next Switch. Use it when the app is stopped or FATAL. It retires
// the current backend and returns it (nil if there was none); with a set
// of backends, it retires them all and returns the first.
func (p *Proxy) Refuse() (old *Backend) {
	if retired := p.replace(&target{refuse: true}); len(retired) > 0 {
		return retired[0]
	}
	return nil
}

// Current returns the first backend new connections go to, or nil if none.
func (p *Proxy) Current() *Backend {
	p.init()
	if bs := p.target.Load().backends; len(bs) > 0 {
		return bs[0]
	}
	return nil
}

// Backends returns the backends new connections go to (a copy).
func (p *Proxy) Backends() []*Backend {
	p.init()
	return slices.Clone(p.target.Load().backends)
}

// replace installs next, wakes waiters of the previous target and retires
// the previous backends that next does not keep. The mutex makes
// install-and-retire one step, so two concurrent Switch calls cannot both
// return (or leak) the same backend.
func (p *Proxy) replace(next *target) (retired []*Backend) {
	p.init()
	next.changed = make(chan struct{})
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := p.target.Swap(next)
	close(prev.changed)
	for _, b := range prev.backends {
		if !slices.Contains(next.backends, b) {
			b.retire()
			retired = append(retired, b)
		}
	}
	return retired
}

// pick returns the backend of t with the fewest open connections, leaving
// out those in skip; among equals it starts from a rotating position, so
// ties are taken in turn. It returns nil when none is left.
func (t *target) pick(skip []*Backend) *Backend {
	n := len(t.backends)
	if n == 1 && len(skip) == 0 && !t.backends[0].Retired() {
		return t.backends[0] // the common case: one instance
	}
	if n == 0 {
		return nil
	}
	start := int(t.next.Add(1)) % n
	var best *Backend
	var least int64
	for i := range n {
		b := t.backends[(start+i)%n]
		if b.Retired() || slices.Contains(skip, b) {
			continue
		}
		if c := b.Conns(); best == nil || c < least {
			best, least = b, c
		}
	}
	return best
}
