package procs

import (
	"fmt"
	"sync"

	"github.com/gracevisor/gracevisor/ports"
)

// A portPool hands out internal ports from the current port_range. A
// changed range gets a fresh ports.Allocator, which knows nothing of the
// ports that instances started under an older range still hold; an
// instance that has not bound its port yet would not be caught by the
// allocator's bind probe. So the pool remembers which allocator each held
// port came from, and when the current one hands out a port that an older
// one still holds, it keeps that port held ("blocked") in the current
// allocator until the older holder releases it, and tries the next.
// Safe for concurrent use.
type portPool struct {
	mu      sync.Mutex
	cur     *ports.Allocator
	owner   map[int]*ports.Allocator   // held port → the allocator it came from
	blocked map[int][]*ports.Allocator // port → allocators holding it for an older holder
}

func newPortPool(from, to int) *portPool {
	return &portPool{
		cur:     ports.New(from, to),
		owner:   make(map[int]*ports.Allocator),
		blocked: make(map[int][]*ports.Allocator),
	}
}

// setRange makes [from, to) the range of later acquires; held ports stay
// held until released.
func (p *portPool) setRange(from, to int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur = ports.New(from, to)
}

// acquire returns a port free on host that no instance holds.
func (p *portPool) acquire(host string) (int, error) {
	p.mu.Lock()
	alloc, tries := p.cur, len(p.owner)+1
	p.mu.Unlock()
	// Each blocked port stays held in alloc, so every try gets another
	// port; more tries than held ports cannot be needed.
	for range tries {
		port, err := alloc.Acquire(host) // may take long (it resolves host): not under mu
		if err != nil {
			return 0, fmt.Errorf("acquire port: %w", err)
		}
		p.mu.Lock()
		if _, held := p.owner[port]; !held {
			p.owner[port] = alloc
			p.mu.Unlock()
			return port, nil
		}
		p.blocked[port] = append(p.blocked[port], alloc)
		p.mu.Unlock()
	}
	return 0, fmt.Errorf("acquire port: %w", ports.ErrExhausted)
}

// release gives port back, with the blocks other allocators kept for it.
func (p *portPool) release(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if alloc := p.owner[port]; alloc != nil {
		alloc.Release(port)
		delete(p.owner, port)
	}
	for _, alloc := range p.blocked[port] {
		alloc.Release(port)
	}
	delete(p.blocked, port)
}

// held is the number of ports instances hold.
func (p *portPool) held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.owner)
}
