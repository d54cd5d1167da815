package ports

import (
	"errors"
	"sync"
	"testing"
)

// Ports held under an old range stay off-limits in an overlapping new
// range until released; the scan then uses only the new range.
func TestSetRangeKeepsHeldPorts(t *testing.T) {
	b := freeWindow(t, 4)
	a := New(b, b+2)
	first, second := mustAcquire(t, a), mustAcquire(t, a) // b, b+1: the whole old range

	a.SetRange(b+1, b+4) // overlaps the old range at b+1, held
	got := []int{mustAcquire(t, a), mustAcquire(t, a)}
	if got[0] != b+2 || got[1] != b+3 {
		t.Fatalf("after SetRange: acquired %v, want [%d %d] (skipping held %d)", got, b+2, b+3, second)
	}
	if _, err := a.Acquire("127.0.0.1"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("with every port of the new range held: %v, want ErrExhausted", err)
	}
	if h := a.Held(); h != 4 {
		t.Fatalf("Held = %d, want 4 (old-range ports count until released)", h)
	}

	a.Release(first) // outside the new range: just forgotten
	if _, err := a.Acquire("127.0.0.1"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("after releasing a port outside the range: %v, want ErrExhausted", err)
	}
	a.Release(second) // inside: available again
	if p := mustAcquire(t, a); p != second {
		t.Fatalf("after releasing %d: acquired %d", second, p)
	}
	if h := a.Held(); h != 3 {
		t.Fatalf("Held = %d, want 3", h)
	}
}

// A disjoint new range starts its scan at its own start, and an emptied
// range exhausts at once.
func TestSetRangeDisjointAndEmpty(t *testing.T) {
	b := freeWindow(t, 4)
	a := New(b, b+2)
	mustAcquire(t, a)
	a.SetRange(b+2, b+4)
	if p := mustAcquire(t, a); p != b+2 {
		t.Fatalf("first acquire in the new range = %d, want %d", p, b+2)
	}
	a.SetRange(b, b)
	if _, err := a.Acquire("127.0.0.1"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("empty range: %v, want ErrExhausted", err)
	}
	var zero Allocator
	zero.SetRange(b+3, b+4)
	if p := mustAcquire(t, &zero); p != b+3 {
		t.Fatalf("zero Allocator after SetRange = %d, want %d", p, b+3)
	}
}

// SetRange while others acquire and release: no port is handed out twice
// (run with -race).
func TestSetRangeConcurrentNeverDuplicates(t *testing.T) {
	const n = 6
	b := freeWindow(t, n)
	a := New(b, b+n/2)
	var (
		mu    sync.Mutex
		owned = map[int]bool{}
		wg    sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for range 30 {
				p, err := a.Acquire("127.0.0.1")
				if errors.Is(err, ErrExhausted) {
					continue
				}
				if err != nil {
					t.Errorf("Acquire: %v", err)
					return
				}
				mu.Lock()
				if owned[p] {
					t.Errorf("port %d handed out twice", p)
				}
				owned[p] = true
				mu.Unlock()
				mu.Lock()
				delete(owned, p)
				mu.Unlock()
				a.Release(p)
			}
		})
	}
	wg.Go(func() {
		for i := range 30 {
			a.SetRange(b+i%(n/2), b+n/2+i%(n/2))
		}
	})
	wg.Wait()
	if h := a.Held(); h != 0 {
		t.Fatalf("Held after all released = %d, want 0", h)
	}
}
