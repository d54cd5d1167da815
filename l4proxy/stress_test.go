package l4proxy

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// TestSwitchStress races thousands of client connects against repeated
// switches. Every client must be served (zero failures), every backend's
// count must be exact, and no backend may accept a connection after its
// Drained channel closed.
func TestSwitchStress(t *testing.T) {
	const (
		clients     = 3000
		parallel    = 128
		maxSwitches = 100
	)
	// For one client in 16, hold the window between picking a backend and
	// counting on it open until that backend drains (or 300 ms pass), so
	// the client then meets a drained backend it has already picked.
	p := &Proxy{picked: func(b *Backend) {
		if rand.IntN(16) == 0 {
			select {
			case <-b.Drained():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}}
	addr := startProxy(t, p)

	type target struct {
		srv *server
		b   *Backend
	}
	newTarget := func(i int) target {
		srv := newWatchedServer(t, named(fmt.Sprint(i)), true)
		return target{srv, srv.watch}
	}
	targets := []target{newTarget(0)}
	p.Switch(targets[0].b)

	var served [maxSwitches + 1]atomic.Int64
	var failures atomic.Int64
	var firstErr atomic.Value
	clientsDone := make(chan struct{})
	go func() {
		defer close(clientsDone)
		sem := make(chan struct{}, parallel)
		var wg sync.WaitGroup
		for range clients {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				i, err := stressClient(addr)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
					return
				}
				served[i].Add(1)
			}()
		}
		wg.Wait()
	}()

	// Switch to a fresh backend every 20 ms while clients run.
	switches := 0
	for switching := true; switching; {
		select {
		case <-clientsDone:
			switching = false
		case <-time.After(20 * time.Millisecond):
			if switches == maxSwitches {
				<-clientsDone
				switching = false
				break
			}
			switches++
			next := newTarget(switches)
			targets = append(targets, next)
			if old := p.Switch(next.b); old != targets[switches-1].b {
				t.Fatalf("switch %d returned %v", switches, old)
			}
		}
	}

	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d clients failed; first: %v", n, clients, firstErr.Load())
	}
	var total int64
	for i, tg := range targets {
		if i < len(targets)-1 {
			waitDrained(t, tg.b, 5*time.Second)
		} else { // the current one: its last connections may still be closing
			testutil.Eventually(t, 5*time.Second, "current backend count to zero", func() bool { return tg.b.Conns() == 0 })
		}
		if c := tg.b.Conns(); c != 0 {
			t.Errorf("backend %d: count %d after all clients closed", i, c)
		}
		if late := tg.srv.late.Load(); late != 0 {
			t.Errorf("backend %d: %d connections accepted after Drained closed", i, late)
		}
		if acc, srv := tg.srv.accepted.Load(), served[i].Load(); acc != srv {
			t.Errorf("backend %d: accepted %d, clients served %d", i, acc, srv)
		}
		total += served[i].Load()
	}
	st := p.Stats()
	if total != clients || st.Accepted != clients || st.Failed != 0 {
		t.Fatalf("served %d of %d; stats %+v", total, clients, st)
	}
	testutil.Eventually(t, 5*time.Second, "active to zero", func() bool { return p.Stats().Active == 0 })
	t.Logf("%d clients over %d switches", clients, switches)
}

// stressClient connects, reads the backend's index and checks an echo.
func stressClient(addr string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	line, err := readLine(c, 10*time.Second)
	if err != nil {
		return 0, fmt.Errorf("greeting: %w", err)
	}
	var i int
	if _, err := fmt.Sscan(line, &i); err != nil {
		return 0, fmt.Errorf("greeting %q: %w", line, err)
	}
	return i, roundTrip(c, "x")
}

// TestPickedBackendDrainsBeforeDial forces the race the drained gate exists
// for: a client picks backend A, A is switched away and drains before the
// client counts itself on A. The client must go to B and A must never be
// dialed.
func TestPickedBackendDrainsBeforeDial(t *testing.T) {
	srvA, srvB := newServer(t, named("A")), newServer(t, named("B"))
	a, b := NewBackend(srvA.addr()), NewBackend(srvB.addr())
	picked, resume := make(chan *Backend, 1), make(chan struct{})
	p := &Proxy{picked: func(x *Backend) {
		select {
		case picked <- x:
			<-resume
		default:
		}
	}}
	p.Switch(a)
	addr := startProxy(t, p)
	got := greetingAsync(addr)
	if x := <-picked; x != a {
		t.Fatalf("picked %v, want A", x)
	}
	p.Switch(b)
	waitDrained(t, a, time.Second)
	close(resume)
	if name := <-got; name != "B" {
		t.Fatalf("client went to %q, want B", name)
	}
	if n := srvA.accepted.Load(); n != 0 {
		t.Fatalf("drained backend A accepted %d connections", n)
	}
}
