package l4proxy

import (
	"math/rand/v2"
	"sync"
)

// setShards is how many independently locked lists a shardSet has. Every
// connection touches a set twice (add and remove); with this many shards
// two connections on different cores almost never meet on one lock, and a
// full walk (Shutdown, Backend.Gone, both rare) costs only this many locks.
const setShards = 32

// shardSet is the set of open members (client connections of a Proxy, links
// of a Backend) that a rare event must reach: Shutdown closes them all,
// Backend.Gone winds them down. Nothing on the connection path reads it,
// so instead of one lock it has setShards short lists, each with its own
// lock; a member goes to a shard picked at random (math/rand/v2's
// top-level source is per thread, so the pick shares nothing either).
//
// The zero value is an empty set. A shardSet must not be copied.
type shardSet[T any] struct {
	shards [setShards]setShard[T]
}

// setShard is one lock and its list, padded to its own cache line pair so
// that shards used by different cores do not share one.
type setShard[T any] struct {
	mu   sync.Mutex
	head *setMember[T]
	_    [128 - 16]byte
}

// setMember is a value's place in a shardSet: the caller embeds or
// allocates one per value and keeps it until remove.
type setMember[T any] struct {
	v          T
	shard      *setShard[T] // nil while not in a set
	prev, next *setMember[T]
}

// add puts m, holding v, into a random shard.
func (s *shardSet[T]) add(m *setMember[T], v T) {
	sh := &s.shards[rand.Uint32()%setShards]
	m.v, m.shard = v, sh
	sh.mu.Lock()
	m.next = sh.head
	if sh.head != nil {
		sh.head.prev = m
	}
	sh.head = m
	sh.mu.Unlock()
}

// remove takes m out of the set it was added to.
func (s *shardSet[T]) remove(m *setMember[T]) {
	sh := m.shard
	sh.mu.Lock()
	if m.prev != nil {
		m.prev.next = m.next
	} else {
		sh.head = m.next
	}
	if m.next != nil {
		m.next.prev = m.prev
	}
	sh.mu.Unlock()
	m.prev, m.next, m.shard = nil, nil, nil
	var zero T
	m.v = zero
}

// each calls f for every member, one shard at a time under that shard's
// lock: a member added after each has passed its shard is not seen, so a
// caller that must reach every member sets a flag the adder checks after
// add (see Backend.Gone and Proxy.track). f must not add or remove.
func (s *shardSet[T]) each(f func(T)) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for m := sh.head; m != nil; m = m.next {
			f(m.v)
		}
		sh.mu.Unlock()
	}
}
