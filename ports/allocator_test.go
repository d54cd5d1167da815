package ports

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

func TestAcquireRoundRobin(t *testing.T) {
	b := freeWindow(t, 4)
	a := New(b, b+4)

	for i, want := range []int{b, b + 1} {
		if got := mustAcquire(t, a); got != want {
			t.Fatalf("acquire #%d = %d, want %d", i, got, want)
		}
	}
	a.Release(b)
	// The just-released port is not reused while later ones are free...
	for _, want := range []int{b + 2, b + 3} {
		if got := mustAcquire(t, a); got != want {
			t.Fatalf("after releasing %d: acquire = %d, want %d", b, got, want)
		}
	}
	// ...but the scan wraps around to it.
	if got := mustAcquire(t, a); got != b {
		t.Fatalf("wrap-around acquire = %d, want %d", got, b)
	}
	if got := a.Held(); got != 4 {
		t.Fatalf("Held = %d, want 4", got)
	}
}

func TestAcquireExhaustedThenRelease(t *testing.T) {
	b := freeWindow(t, 2)
	a := New(b, b+2)
	mustAcquire(t, a)
	mustAcquire(t, a)

	_, err := a.Acquire("127.0.0.1")
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("third Acquire err = %v, want ErrExhausted", err)
	}
	a.Release(b + 1)
	if got := a.Held(); got != 1 {
		t.Fatalf("Held after release = %d, want 1", got)
	}
	if got := mustAcquire(t, a); got != b+1 {
		t.Fatalf("Acquire after release = %d, want %d", got, b+1)
	}
}

func TestAcquireSkipsForeignListener(t *testing.T) {
	for _, foreignHost := range []string{"127.0.0.1", "0.0.0.0"} {
		t.Run("foreign on "+foreignHost, func(t *testing.T) {
			b := freeWindow(t, 3)
			listenOn(t, foreignHost, b+1)
			a := New(b, b+3)

			got := []int{mustAcquire(t, a), mustAcquire(t, a)}
			if got[0] != b || got[1] != b+2 {
				t.Fatalf("acquired %v, want [%d %d] (skipping busy %d)", got, b, b+2, b+1)
			}
			if _, err := a.Acquire("127.0.0.1"); !errors.Is(err, ErrExhausted) {
				t.Fatalf("Acquire with the rest busy: err = %v, want ErrExhausted", err)
			}
		})
	}
}

func TestAcquireAllBusyIsExhausted(t *testing.T) {
	b := freeWindow(t, 3)
	for p := b; p < b+3; p++ {
		listenOn(t, "127.0.0.1", p)
	}
	a := New(b, b+3)
	if _, err := a.Acquire("localhost"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("err = %v, want ErrExhausted", err)
	}
	if got := a.Held(); got != 0 {
		t.Fatalf("Held = %d, want 0", got)
	}
}

func TestAcquireEmptyRange(t *testing.T) {
	for name, a := range map[string]*Allocator{
		"empty":    New(10000, 10000),
		"inverted": New(11000, 10000),
		"zero":     new(Allocator),
	} {
		if _, err := a.Acquire("127.0.0.1"); !errors.Is(err, ErrExhausted) {
			t.Errorf("%s: err = %v, want ErrExhausted", name, err)
		}
		a.Release(10000) // must not panic
	}
}

func TestAcquireProbeErrors(t *testing.T) {
	cases := []struct {
		host, wantInMsg string
	}{
		// TEST-NET-2: never a local address, so the bind itself fails.
		{"198.51.100.1", "cannot assign requested address"},
		// .invalid never resolves (RFC 6761).
		{"gracevisor-test.invalid", `resolve "gracevisor-test.invalid"`},
	}
	for _, c := range cases {
		t.Run(c.host, func(t *testing.T) {
			b := freeWindow(t, 1)
			a := New(b, b+1)
			_, err := a.Acquire(c.host)
			if err == nil || errors.Is(err, ErrExhausted) {
				t.Fatalf("err = %v, want a probe error", err)
			}
			if !strings.Contains(err.Error(), c.wantInMsg) {
				t.Fatalf("err = %q, want it to mention %q", err, c.wantInMsg)
			}
			// The failed probe must not leak its reservation.
			if got := mustAcquire(t, a); got != b {
				t.Fatalf("Acquire after failed probe = %d, want %d", got, b)
			}
		})
	}
}

func TestReleaseUnheldIsNoop(t *testing.T) {
	b := freeWindow(t, 2)
	a := New(b, b+2)
	p := mustAcquire(t, a)
	a.Release(b + 1) // in range, never acquired
	a.Release(b - 1) // outside the range
	if got := a.Held(); got != 1 {
		t.Fatalf("Held = %d, want 1", got)
	}
	a.Release(p)
	a.Release(p) // double release
	if got := a.Held(); got != 0 {
		t.Fatalf("Held = %d, want 0", got)
	}
}

// Many goroutines drain the range at once: no port is handed out twice, and
// every port nobody got is really busy on the host.
func TestConcurrentAcquireNeverDuplicates(t *testing.T) {
	const n, workers = 40, 8
	b := freeWindow(t, n)
	a := New(b, b+n)

	var (
		mu  sync.Mutex
		got = map[int]int{} // port -> times handed out
		wg  sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range n + 1 { // bounded: at most n can succeed overall
				p, err := a.Acquire("127.0.0.1")
				if errors.Is(err, ErrExhausted) {
					return
				}
				if err != nil {
					t.Errorf("Acquire: %v", err)
					return
				}
				mu.Lock()
				got[p]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	for p, times := range got {
		if times != 1 {
			t.Errorf("port %d handed out %d times", p, times)
		}
		if p < b || p >= b+n {
			t.Errorf("port %d outside [%d, %d)", p, b, b+n)
		}
	}
	if h := a.Held(); h != len(got) {
		t.Errorf("Held = %d, want %d", h, len(got))
	}
	for p := b; p < b+n; p++ {
		if got[p] == 0 && testutil.PortFree(p) {
			t.Errorf("port %d is free but was never handed out", p)
		}
	}
}

// Acquire and Release churn on a small range: a port is never handed to two
// owners at once.
func TestConcurrentChurnNeverDuplicates(t *testing.T) {
	const n, workers, rounds = 4, 8, 40
	b := freeWindow(t, n)
	a := New(b, b+n)

	var (
		mu        sync.Mutex
		owned     = map[int]bool{}
		successes int
		wg        sync.WaitGroup
	)
	claim := func(p int) bool {
		mu.Lock()
		defer mu.Unlock()
		if owned[p] {
			return false
		}
		owned[p] = true
		successes++
		return true
	}
	unclaim := func(p int) {
		mu.Lock()
		defer mu.Unlock()
		delete(owned, p)
	}
	for range workers {
		wg.Go(func() {
			for range rounds {
				p, err := a.Acquire("127.0.0.1")
				if errors.Is(err, ErrExhausted) {
					continue // all n held by other workers right now
				}
				if err != nil {
					t.Errorf("Acquire: %v", err)
					return
				}
				if !claim(p) {
					t.Errorf("port %d handed out while another worker holds it", p)
					return
				}
				unclaim(p)
				a.Release(p)
			}
		})
	}
	wg.Wait()
	if successes < rounds {
		t.Fatalf("only %d successful acquires out of %d attempts", successes, workers*rounds)
	}
	if h := a.Held(); h != 0 {
		t.Fatalf("Held after all released = %d, want 0", h)
	}
}
