package ports

import (
	"errors"
	"fmt"
	"sync"
)

// ErrExhausted is returned by Acquire when every port in the range is held
// by this Allocator or busy on the host.
var ErrExhausted = errors.New("ports: no free port in range")

// Allocator hands out ports from [from, to). It is safe for concurrent use;
// it must not be copied after first use. The zero value is an empty range.
type Allocator struct {
	mu sync.Mutex // guards every field below

	from, to int
	// state holds every port that is handed out (held) or being probed by
	// some Acquire (reserved), whatever range it came from. A port absent
	// from the map is available.
	state map[int]portState
	// next is where the next round-robin scan starts.
	next int
}

type portState uint8

const (
	reserved portState = iota + 1 // being probed; not yet handed out
	held                          // handed out by Acquire, not yet released
)

// New returns an Allocator for the ports [from, to). An empty or inverted
// range is allowed (config validation rejects it earlier); Acquire on it
// always returns ErrExhausted.
func New(from, to int) *Allocator {
	return &Allocator{from: from, to: to, next: from, state: make(map[int]portState)}
}

// SetRange makes [from, to) the range of later Acquires. Ports held (or
// being probed) stay off-limits until released, also where the new range
// overlaps the old one: an instance that has not bound its port yet would
// pass a bind probe. Releasing a port of an old range just forgets it.
func (a *Allocator) SetRange(from, to int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.from, a.to = from, to
	if a.next < from || a.next >= to {
		a.next = from
	}
}

// sizeLocked is the number of ports in the range; a.mu must be held.
func (a *Allocator) sizeLocked() int { return max(a.to-a.from, 0) }

// size is sizeLocked for callers without the lock.
func (a *Allocator) size() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sizeLocked()
}

// Acquire returns a port that this Allocator does not hold and that is free
// on host (every address host resolves to can be bound). The port stays held
// until Release. It returns ErrExhausted when every port in the range is held
// or busy, and a descriptive error when host cannot be resolved or a probe
// fails for a reason other than "address in use".
func (a *Allocator) Acquire(host string) (int, error) {
	if a.size() == 0 {
		return 0, ErrExhausted
	}
	addrs, err := resolve(host)
	if err != nil {
		return 0, err
	}
	// Each candidate is tried once at most, so a range full of busy ports
	// ends in ErrExhausted instead of spinning. (A SetRange meanwhile makes
	// the count approximate, which only ends the scan early or late.)
	for range a.size() {
		port, ok := a.reserveNext()
		if !ok {
			return 0, ErrExhausted
		}
		free, err := probe(addrs, port)
		if err != nil {
			a.unreserve(port)
			return 0, fmt.Errorf("ports: acquire on %s: %w", host, err)
		}
		if free {
			a.promote(port)
			return port, nil
		}
		a.unreserve(port)
	}
	return 0, ErrExhausted
}

// reserveNext marks the first available port at or after a.next as reserved
// and moves a.next past it. ok is false when every port is held or reserved.
func (a *Allocator) reserveNext() (port int, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state == nil { // the zero value
		a.state = make(map[int]portState)
	}
	for range a.sizeLocked() {
		p := a.next
		a.next++
		if a.next >= a.to || a.next < a.from {
			a.next = a.from
		}
		if _, taken := a.state[p]; !taken {
			a.state[p] = reserved
			return p, true
		}
	}
	return 0, false
}

// promote turns a reservation into a hand-out.
func (a *Allocator) promote(port int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.state[port] = held
}

// unreserve drops a reservation whose probe found the port busy or failed.
func (a *Allocator) unreserve(port int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state[port] == reserved {
		delete(a.state, port)
	}
}

// Release gives port back. Releasing a port that is not held (never
// acquired, already released, outside the range) is a no-op.
func (a *Allocator) Release(port int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state[port] == held {
		delete(a.state, port)
	}
}

// Held reports how many ports are currently handed out.
func (a *Allocator) Held() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, s := range a.state {
		if s == held {
			n++
		}
	}
	return n
}
