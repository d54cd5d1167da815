package procs

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/internal/testutil"
)

// Several instances of one app, with real processes.

// threeApp is a real app with three instances, each knowing its slot
// (SLOT={instance}) and its config's VERSION.
func threeApp(t *testing.T, strategy string) config.App {
	app := testApp(t, "web", modeHTTP, "SLOT={instance}", "VERSION=1")
	app.Instances, app.ReloadStrategy = 3, strategy
	return app
}

// servingSet waits until n instances serve, in slots 0…n-1 and nothing
// else is listed, and returns their pids by slot.
func servingSet(t *testing.T, s *Supervisor, n int) []int {
	t.Helper()
	var pids []int
	testutil.Eventually(t, 20*time.Second, strconv.Itoa(n)+" serving instances alone", func() bool {
		st := status(t, s, "web")
		if st.State != AppRunning || len(st.Instances) != n {
			return false
		}
		pids = pids[:0]
		for i, in := range st.Instances {
			if in.Slot != i || in.State != InstServing {
				return false
			}
			pids = append(pids, in.PID)
		}
		return true
	})
	return pids
}

// load runs clients that each fetch / on fresh connections until stopped,
// counting the requests that failed and noting when each had begun.
type load struct {
	stop       chan struct{}
	wg         sync.WaitGroup
	ok, failed atomic.Int64
	firstErr   atomic.Value
	mu         sync.Mutex
	failedAt   []int64 // when each failed request began, in Unix ns
}

func startLoad(t *testing.T, url string, clients int) *load {
	l := &load{stop: make(chan struct{})}
	for range clients {
		l.wg.Add(1)
		go l.run(url)
	}
	t.Cleanup(l.end)
	return l
}

func (l *load) run(url string) {
	defer l.wg.Done()
	client := noKeepAliveClient()
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		began := time.Now().UnixNano()
		if _, err := get(client, url); err != nil {
			l.failed.Add(1)
			l.firstErr.CompareAndSwap(nil, err)
			l.mu.Lock()
			l.failedAt = append(l.failedAt, began)
			l.mu.Unlock()
		} else {
			l.ok.Add(1)
		}
	}
}

// end stops the clients; it may be called more than once.
func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// failedSince is how many failed requests had begun after since.
func (l *load) failedSince(since time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, began := range l.failedAt {
		if began > since.UnixNano() {
			n++
		}
	}
	return n
}

// check ends the load and fails the test if any request failed.
func (l *load) check(t *testing.T) {
	t.Helper()
	l.end()
	t.Logf("%d requests, %d failed", l.ok.Load(), l.failed.Load())
	if l.failed.Load() != 0 || l.ok.Load() == 0 {
		t.Errorf("%d of %d requests failed; first: %v", l.failed.Load(), l.ok.Load()+l.failed.Load(), l.firstErr.Load())
	}
}

// askInstance fetches path from the instance on port directly.
func askInstance(t *testing.T, port int, path string) string {
	t.Helper()
	body, err := get(noKeepAlive, "http://127.0.0.1:"+strconv.Itoa(port)+path)
	if err != nil {
		t.Fatalf("instance on port %d: %v", port, err)
	}
	return body
}

// TestInstancesSpreadAndSurviveAKill: 300 long connections spread evenly
// over three instances, each of which got its slot in its environment; a
// SIGKILLed instance comes back in its slot, and no connection made after
// its death fails.
func TestInstancesSpreadAndSurviveAKill(t *testing.T) {
	s := startSupervisor(t, threeApp(t, config.ReloadAllAtOnce))
	pids := servingSet(t, s, 3)
	for _, in := range status(t, s, "web").Instances {
		if got := askInstance(t, in.Port, "/env?k=SLOT"); got != strconv.Itoa(in.Slot) {
			t.Errorf("instance in slot %d has SLOT=%q", in.Slot, got)
		}
	}
	ext := status(t, s, "web").External
	perPID := map[int]int{}
	for range 300 {
		c := testutil.Dial(t, ext)
		defer c.Close()
		perPID[keepAliveGet(t, c)]++
	}
	for _, pid := range pids {
		if n := perPID[pid]; n < 90 || n > 110 {
			t.Errorf("connections per instance %v; want 100 ± 10 each", perPID)
		}
	}

	l := startLoad(t, "http://"+ext+"/", 32)
	victim := pids[1]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Its threads may hold its listener open a little after the main
	// thread is a zombie; once reaped it is gone, and the supervisor has
	// noticed: from then on, no new connection may fail.
	testutil.Eventually(t, 5*time.Second, "the kill to be noticed", func() bool {
		for _, in := range status(t, s, "web").Instances {
			if in.PID == victim {
				return false
			}
		}
		return true
	})
	noticed := time.Now()
	testutil.Eventually(t, 10*time.Second, "a new instance in slot 1", func() bool {
		st := status(t, s, "web")
		return len(st.Instances) == 3 && st.Instances[1].Slot == 1 && st.Instances[1].PID != victim &&
			st.Instances[1].State == InstServing
	})
	after := servingSet(t, s, 3)
	if after[0] != pids[0] || after[2] != pids[2] || after[1] == victim {
		t.Errorf("pids %v after the kill of %d; want slot 1 replaced alone (before %v)", after, victim, pids)
	}
	l.end()
	n := l.failedSince(noticed)
	t.Logf("%d requests, %d failed (%d begun after the kill was noticed)", l.ok.Load(), l.failed.Load(), n)
	if n != 0 || l.ok.Load() == 0 {
		t.Errorf("%d new connections failed after the kill was noticed; first error: %v", n, l.firstErr.Load())
	}
}

// TestInstancesReloadUnderLoad: both strategies replace all three
// instances under load without a failed request; rolling never has more
// than N+1 instances serving or starting.
func TestInstancesReloadUnderLoad(t *testing.T) {
	for _, strategy := range []string{config.ReloadAllAtOnce, config.ReloadRolling} {
		t.Run(strategy, func(t *testing.T) {
			s := startSupervisor(t, threeApp(t, strategy))
			before := servingSet(t, s, 3)
			l := startLoad(t, "http://"+status(t, s, "web").External+"/", 32)
			peak := watchPeak(t, s)
			for i := range 3 {
				if _, err := s.Reload(context.Background(), "web"); err != nil {
					t.Fatalf("reload %d: %v", i, err)
				}
			}
			l.check(t)
			after := servingSet(t, s, 3)
			for i := range after {
				if after[i] == before[i] {
					t.Errorf("slot %d still runs pid %d", i, after[i])
				}
			}
			if p := peak(); strategy == config.ReloadRolling && p > 4 {
				t.Errorf("%d instances serving or starting at once; want at most 4", p)
			}
		})
	}
}

// watchPeak polls the app's status until the test ends; the function it
// returns stops polling and reports the most instances seen serving or
// starting at once.
func watchPeak(t *testing.T, s *Supervisor) func() int {
	done, stopped := make(chan struct{}), make(chan struct{})
	var peak int
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			st, err := s.Status("web")
			if err != nil {
				continue
			}
			n := 0
			for _, in := range st[0].Instances {
				if in.State == InstServing || in.State == InstStarting {
					n++
				}
			}
			peak = max(peak, n)
		}
	}()
	var once sync.Once
	end := func() int {
		once.Do(func() { close(done); <-stopped })
		return peak
	}
	t.Cleanup(func() { end() })
	return end
}

// TestRollingReloadFailingMidwayGoesBack: a rolling update whose second
// new instance cannot start puts the old config back in the slot it had
// replaced; the old config serves everywhere, nothing failed under load,
// and both the update and a later reload report the failure.
func TestRollingReloadFailingMidwayGoesBack(t *testing.T) {
	dir := t.TempDir()
	app := threeApp(t, config.ReloadRolling)
	app.MaxRetries = 0
	app.Environment = append(app.Environment, envCrashFile+"="+filepath.Join(dir, "crash{instance}"))
	s := startSupervisor(t, app)
	before := servingSet(t, s, 3)
	if err := os.WriteFile(filepath.Join(dir, "crash1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l := startLoad(t, "http://"+status(t, s, "web").External+"/", 32)
	next := app
	next.Environment = append(slices.Clone(app.Environment), "VERSION=2")
	ch, err := s.Update(context.Background(), testConfig(next))
	if err != nil || len(ch.Failed) != 1 || !strings.Contains(ch.Failed[0].Error, "going back to the old config") {
		t.Fatalf("update = %+v, %v; want web failed, going back", ch, err)
	}
	after := servingSet(t, s, 3)
	if after[0] == before[0] || after[1] != before[1] || after[2] != before[2] {
		t.Errorf("pids %v, before %v; want slot 0 started again, slots 1 and 2 untouched", after, before)
	}
	for _, in := range status(t, s, "web").Instances {
		if v := askInstance(t, in.Port, "/env?k=VERSION"); v != "1" {
			t.Errorf("slot %d runs VERSION=%q; want the old config's 1", in.Slot, v)
		}
	}
	if _, err := s.Reload(context.Background(), "web"); err == nil {
		t.Error("a reload into the failing config succeeded")
	}
	l.check(t)
	servingSet(t, s, 3)
	if st := status(t, s, "web"); st.LastReload != ReloadFailed {
		t.Errorf("status %+v; want the last reload failed", st)
	}
}

// TestScaleUnderLoad: scaling one instance up to three and back down to
// one fails no request; the instances scaled down drain and stop.
func TestScaleUnderLoad(t *testing.T) {
	app := threeApp(t, config.ReloadAllAtOnce)
	app.Instances = 1
	s := startSupervisor(t, app)
	first := servingSet(t, s, 1)
	l := startLoad(t, "http://"+status(t, s, "web").External+"/", 32)
	res, err := s.Scale(context.Background(), "web", 3)
	if err != nil || len(res.Serving) != 3 {
		t.Fatalf("scale up = %+v, %v", res, err)
	}
	three := servingSet(t, s, 3)
	if three[0] != first[0] {
		t.Errorf("slot 0 went from pid %d to %d; scaling must not touch it", first[0], three[0])
	}
	if _, err := s.Scale(context.Background(), "web", 1); err != nil {
		t.Fatal(err)
	}
	l.check(t)
	if one := servingSet(t, s, 1); one[0] != first[0] {
		t.Errorf("slot 0 runs pid %d, want %d", one[0], first[0])
	}
	for _, pid := range three[1:] {
		testutil.Eventually(t, 10*time.Second, "a scaled-down instance to stop", func() bool { return !testutil.Alive(pid) })
	}
}
