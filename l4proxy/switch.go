package l4proxy

// target is one immutable routing decision. Switch and Refuse replace it as
// a whole and close the old one's changed channel, which wakes every client
// connection waiting on that decision.
type target struct {
	backend *Backend      // nil: no backend; wait (or refuse)
	refuse  bool          // close new and waiting connections at once
	changed chan struct{} // closed when this target is replaced
}

// Switch sends new connections to b; open connections stay where they are.
// With b == nil new connections wait up to ConnectTimeout for the next
// Switch. The previous backend, if any and different from b, is retired
// (see Backend.Drained) and returned; otherwise Switch returns nil.
// Switching to a retired backend behaves like Switch(nil).
func (p *Proxy) Switch(b *Backend) (old *Backend) {
	return p.replace(&target{backend: b})
}

// Refuse closes new connections, and those waiting for a backend, at once
// until the next Switch. Use it when the app is stopped or FATAL. It retires
// the current backend and returns it (nil if there was none).
func (p *Proxy) Refuse() (old *Backend) {
	return p.replace(&target{refuse: true})
}

// Current returns the backend new connections go to, or nil if none.
func (p *Proxy) Current() *Backend {
	p.init()
	return p.target.Load().backend
}

// replace installs next, wakes waiters of the previous target and retires
// the previous backend. The mutex makes install-and-retire one step, so two
// concurrent Switch calls cannot both return (or leak) the same backend.
func (p *Proxy) replace(next *target) (old *Backend) {
	p.init()
	next.changed = make(chan struct{})
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := p.target.Swap(next)
	close(prev.changed)
	if prev.backend == nil || prev.backend == next.backend {
		return nil
	}
	prev.backend.retire()
	return prev.backend
}
