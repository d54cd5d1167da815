package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/procs"
)

// loadStats counts what the load clients saw. Safe for concurrent use.
type loadStats struct {
	mu     sync.Mutex
	ok     int
	failed int
	errs   []string // the first few failures
	pids   map[int]bool
}

func (s *loadStats) record(t *testing.T, code int, body string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || code != 200 {
		s.failed++
		if len(s.errs) < 5 {
			s.errs = append(s.errs, fmt.Sprintf("status %d, err %v", code, err))
		}
		return
	}
	s.ok++
	s.pids[parsePID(t, body)] = true
}

func (s *loadStats) okCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ok
}

// loadClient sends requests on fresh connections until ctx is done. A
// request in flight when ctx ends still completes: it must not fail either.
func loadClient(ctx context.Context, t *testing.T, wg *sync.WaitGroup, addr string, s *loadStats) {
	defer wg.Done()
	for ctx.Err() == nil {
		code, body, err := get(addr, "/")
		s.record(t, code, body, err)
	}
}

// TestReloadUnderLoad is the promise of the product: 32 clients open fresh
// connections nonstop while the app is reloaded 20 times, and not one
// connection or request fails.
func TestReloadUnderLoad(t *testing.T) {
	const clients, reloads = 32, 20
	e := newEnv(t)
	web := e.newApp("web", "")
	e.writeConfig(web)
	e.start()

	stats := &loadStats{pids: map[int]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go loadClient(ctx, t, &wg, web.addr, stats)
	}
	defer func() { cancel(); wg.Wait() }()
	testutil.Eventually(t, 10*time.Second, "load to flow", func() bool { return stats.okCount() >= clients })

	began := time.Now()
	var switches []time.Duration
	for i := range reloads {
		r := e.ctl("reload", "web", "--json")
		if r.code != 0 {
			t.Fatalf("reload %d: %v", i+1, r)
		}
		switches = append(switches, switchTime(t, r.stdout))
	}
	elapsed := time.Since(began)
	before := stats.okCount()
	testutil.Eventually(t, 10*time.Second, "requests after the last reload", func() bool { return stats.okCount() >= before+clients })
	cancel()
	wg.Wait()

	stats.mu.Lock()
	defer stats.mu.Unlock()
	t.Logf("%d requests on fresh connections, %d failed, %d reloads in %s, %d instances served traffic, switch times %v",
		stats.ok, stats.failed, reloads, elapsed.Round(time.Millisecond), len(stats.pids), switches)
	if stats.failed > 0 {
		t.Fatalf("%d of %d requests failed during reloads; first: %v", stats.failed, stats.ok+stats.failed, stats.errs)
	}
	if len(stats.pids) < reloads/2 {
		t.Fatalf("only %d distinct instances served traffic over %d reloads: traffic did not move", len(stats.pids), reloads)
	}
}

// switchTime reads the duration from `reload --json` output.
func switchTime(t *testing.T, out string) time.Duration {
	t.Helper()
	var res []procs.ReloadResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 1 {
		t.Fatalf("reload --json output %q: %v", out, err)
	}
	return time.Duration(res[0].DurationMS * float64(time.Millisecond)).Round(time.Millisecond)
}

// TestReloadFailureKeepsOldInstance: a new instance that never becomes
// healthy fails the reload (exit 1, one error line) and the old instance
// keeps serving.
func TestReloadFailureKeepsOldInstance(t *testing.T) {
	e := newEnv(t)
	unhealthy := filepath.Join(e.dir, "unhealthy")
	web := e.newApp("web", "--health-file="+unhealthy)
	// Long healthcheck interval: the serving instance must not be judged by
	// the health file while we make new instances fail with it.
	web.extra = "start_timeout: 1\nmax_retries: 1\nhealthcheck_interval: 600"
	e.writeConfig(web)
	e.start()
	old := e.servingPID("web")

	e.writeFile("unhealthy", "")
	r := e.ctl("reload", "web")
	if r.code != 1 || !oneLine(r.stderr) || !strings.Contains(r.stderr, "reload web") {
		t.Fatalf("failed reload: %v; want exit 1 and one error line", r)
	}
	st := e.status()["web"]
	if st.State != procs.AppRunning || st.Instances[0].PID != old || pidBehind(t, web.addr) != old {
		t.Fatalf("after a failed reload the old instance (pid %d) must still serve: %+v", old, st)
	}

	if err := os.Remove(unhealthy); err != nil {
		t.Fatal(err)
	}
	e.mustCtl(0, "reload", "web")
	if pidBehind(t, web.addr) == old {
		t.Fatal("reload after the fix did not switch")
	}
}

// TestStatusExit3WhenFatal: an app that cannot start ends FATAL; status
// exits 3 and says why; the healthy app is unaffected.
func TestStatusExit3WhenFatal(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "")
	broken := e.newApp("broken", "--fail-start")
	broken.extra = "max_retries: 2"
	e.writeConfig(web, broken)
	e.start()
	testutil.Eventually(t, 30*time.Second, "broken to be FATAL", func() bool {
		return e.status()["broken"].State == procs.AppFatal
	})
	r := e.mustCtl(3, "status")
	if !strings.Contains(r.stdout, "FATAL") || !strings.Contains(r.stdout, "broken: ") {
		t.Fatalf("status of a FATAL app should show the state and the last error: %q", r.stdout)
	}
	e.mustCtl(3, "status", "broken", "--json")
	e.mustCtl(0, "status", "web")
	if r := e.ctl("reload", "broken"); r.code != 1 {
		t.Fatalf("reload of an app that cannot start: %v; want exit 1", r)
	}
	if _, _, err := get(broken.addr, "/"); err == nil {
		t.Fatal("a FATAL app served a request")
	}
	pidBehind(t, web.addr)
}
