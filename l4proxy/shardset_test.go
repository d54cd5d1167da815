package l4proxy

import (
	"sync"
	"testing"
)

// TestShardSet adds and removes members from many goroutines at once; each
// must then see exactly the members left in, once each.
func TestShardSet(t *testing.T) {
	const workers, per = 16, 500
	var s shardSet[int]
	kept := make([][]setMember[int], workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms := make([]setMember[int], per)
			for i := range ms {
				s.add(&ms[i], w*per+i)
			}
			for i := 0; i < per; i += 2 { // remove the even ones
				s.remove(&ms[i])
			}
			kept[w] = ms
		}()
	}
	wg.Wait()
	seen := make(map[int]int)
	s.each(func(v int) { seen[v]++ })
	if len(seen) != workers*per/2 {
		t.Fatalf("each saw %d members, want %d", len(seen), workers*per/2)
	}
	for v, n := range seen {
		if v%2 == 0 || n != 1 {
			t.Fatalf("member %d seen %d times (even ones were removed)", v, n)
		}
	}
	for w := range kept {
		for i := 1; i < per; i += 2 {
			s.remove(&kept[w][i])
		}
	}
	s.each(func(v int) { t.Fatalf("member %d left after removing all", v) })
}

// BenchmarkTrack compares the connection tracking that every connection
// pays twice (add at accept, remove at close) as one mutex over a map (the
// design before the sharded set) and as a shardSet, from all cores at once:
//
//	go test -run '^$' -bench Track -cpu 1,2,8 ./l4proxy/
func BenchmarkTrack(b *testing.B) {
	b.Run("mutex-map", func(b *testing.B) {
		var mu sync.Mutex
		m := make(map[*setMember[int]]struct{})
		b.RunParallel(func(pb *testing.PB) {
			e := new(setMember[int])
			for pb.Next() {
				mu.Lock()
				m[e] = struct{}{}
				mu.Unlock()
				mu.Lock()
				delete(m, e)
				mu.Unlock()
			}
		})
	})
	b.Run("sharded", func(b *testing.B) {
		var s shardSet[int]
		b.RunParallel(func(pb *testing.PB) {
			e := new(setMember[int])
			for pb.Next() {
				s.add(e, 1)
				s.remove(e)
			}
		})
	})
}
