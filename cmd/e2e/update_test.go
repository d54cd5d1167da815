package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/procs"
)

// pids maps every app to its serving pid.
func (e *env) pids() map[string]int {
	e.t.Helper()
	m := map[string]int{}
	for name, st := range e.status() {
		if len(st.Instances) > 0 {
			m[name] = st.Instances[0].PID
		}
	}
	return m
}

func TestUpdate(t *testing.T) {
	e := newEnv(t)
	a := e.newApp("a", "")
	e.writeConfig(a)
	d := e.start()
	aPID := e.servingPID("a")

	// Add an app inline.
	b := e.newApp("b", "")
	e.writeConfig(a, b)
	if r := e.mustCtl(0, "update"); !strings.Contains(r.stdout, "added:   b") {
		t.Fatalf("update output: %q", r.stdout)
	}
	pidBehind(t, b.addr)

	// Add an app as a file in the apps_include folder.
	c := e.newApp("c", "")
	e.writeFile(filepath.Join("conf.d", "c.yaml"), c.fileYAML()+"\n")
	var ch procs.Changes
	r := e.mustCtl(0, "update", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &ch); err != nil || !reflect.DeepEqual(ch.Added, []string{"c"}) || len(ch.Removed)+len(ch.Changed) != 0 {
		t.Fatalf("update --json: %q (%v)", r.stdout, err)
	}
	pidBehind(t, c.addr)

	// Change b: reloaded hitlessly under load; a and c untouched.
	before := e.pids()
	b.extra = "environment: [CHANGED=1]"
	e.writeConfig(a, b)
	failed := underLoad(t, b.addr, 8, func() {
		if r := e.mustCtl(0, "update"); strings.TrimSpace(r.stdout) != "changed: b" {
			t.Errorf("update output: %q", r.stdout)
		}
	})
	if failed > 0 {
		t.Fatalf("%d requests to b failed while update reloaded it", failed)
	}
	after := e.pids()
	if after["b"] == before["b"] || pidBehind(t, b.addr) != after["b"] {
		t.Fatalf("changed app b not reloaded: pid %d → %d", before["b"], after["b"])
	}
	if after["a"] != aPID || after["c"] != before["c"] {
		t.Fatalf("unchanged apps were touched: before %v, after %v", before, after)
	}

	// Remove c: it stops and its port closes.
	if err := os.Remove(filepath.Join(e.dir, "conf.d", "c.yaml")); err != nil {
		t.Fatal(err)
	}
	if r := e.mustCtl(0, "update"); strings.TrimSpace(r.stdout) != "removed: c" {
		t.Fatalf("update output: %q", r.stdout)
	}
	testutil.Eventually(t, 15*time.Second, "removed app c to stop", func() bool { return !testutil.Alive(after["c"]) && testutil.Refused(c.addr) })
	if _, ok := e.status()["c"]; ok {
		t.Fatal("removed app c still in status")
	}

	testInvalidUpdateChangesNothing(t, e, a, b)
	testSIGHUP(t, e, d, a, b)
}

// testInvalidUpdateChangesNothing: exit 1, the problems (naming the key) one
// per line, and the same apps with the same pids afterwards.
func testInvalidUpdateChangesNothing(t *testing.T, e *env, a, b app) {
	t.Helper()
	before := e.pids()
	bad := b
	bad.extra = "environment: [CHANGED=2]\nhealthchek: /typo"
	e.writeConfig(a, bad)
	for _, r := range []result{e.ctl("update"), runCtl(t, "--conf", e.dir, "update")} {
		if r.code != 1 || !strings.Contains(r.stderr, "healthchek") {
			t.Fatalf("invalid update: %v; want exit 1 naming the key", r)
		}
		for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			if !strings.HasPrefix(line, "gracevisorctl: invalid config: ") {
				t.Fatalf("error line %q", line)
			}
		}
	}
	if after := e.pids(); !reflect.DeepEqual(before, after) {
		t.Fatalf("an invalid config changed the apps: %v → %v", before, after)
	}
	e.writeConfig(a, b) // back to the running config
}

// testSIGHUP: SIGHUP applies the config like update; an invalid one is
// logged and changes nothing.
func testSIGHUP(t *testing.T, e *env, d *daemon, a, b app) {
	t.Helper()
	x := e.newApp("x", "")
	e.writeConfig(a, b, x)
	d.signal(syscall.SIGHUP)
	testutil.Eventually(t, 20*time.Second, "SIGHUP to add app x", func() bool {
		return e.status()["x"].State == procs.AppRunning
	})
	pidBehind(t, x.addr)

	before := e.pids()
	e.writeFile("gracevisor.yaml", "bogus: [\n")
	d.signal(syscall.SIGHUP)
	testutil.Eventually(t, 10*time.Second, "the failed SIGHUP update to be logged", func() bool {
		return strings.Contains(d.output.String(), "SIGHUP update failed")
	})
	if after := e.pids(); !reflect.DeepEqual(before, after) {
		t.Fatalf("an invalid config on SIGHUP changed the apps: %v → %v", before, after)
	}
}

// underLoad runs clients sending requests on fresh connections to addr while
// during runs, and returns how many requests failed.
func underLoad(t *testing.T, addr string, clients int, during func()) int {
	t.Helper()
	stats := &loadStats{pids: map[int]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go loadClient(ctx, t, &wg, addr, stats)
	}
	testutil.Eventually(t, 10*time.Second, "load to flow", func() bool { return stats.okCount() >= clients })
	during()
	cancel()
	wg.Wait()
	if stats.failed > 0 {
		t.Logf("failures: %v", stats.errs)
	}
	return stats.failed
}

// TestUpdateNamesAppsThatDidNotGetReady: an update that adds an app which
// never gets ready exits 1 naming it (its reason on stderr), and the other
// changes (an added app, a changed one) are applied and kept.
func TestUpdateNamesAppsThatDidNotGetReady(t *testing.T) {
	e := newEnv(t)
	a := e.newApp("a", "")
	e.writeConfig(a)
	e.start()
	aPID := e.servingPID("a")

	a.extra = "environment: [CHANGED=1]"
	b := e.newApp("b", "")
	never := e.newApp("never", "--start-delay=1h")
	never.extra = "start_timeout: 1"
	e.writeConfig(a, b, never)
	r := e.mustCtl(1, "update")
	if !strings.Contains(r.stdout, "added:   b, never (not ready)") || !strings.Contains(r.stdout, "changed: a") {
		t.Errorf("update stdout %q; want the added and changed apps, never marked not ready", r.stdout)
	}
	if !strings.Contains(r.stderr, "gracevisorctl: never did not get ready: ") ||
		!strings.Contains(r.stderr, "not ready within start_timeout") ||
		!strings.Contains(r.stderr, "1 app(s) did not get ready: never") || strings.Contains(r.stderr, "b did not") {
		t.Errorf("update stderr %q; want never named with its reason, and only never", r.stderr)
	}
	st := e.status()
	if st["b"].State != procs.AppRunning || pidBehind(t, b.addr) != st["b"].Instances[0].PID {
		t.Errorf("added app b: %+v", st["b"])
	}
	if p := e.servingPID("a"); p == aPID {
		t.Error("changed app a was not reloaded")
	}
	if _, ok := st["never"]; !ok {
		t.Error("the app that did not get ready was dropped; want it kept (retrying) as configured")
	}

	// --json: the same answer, with the failures listed.
	c := e.newApp("c", "--fail-start")
	e.writeConfig(a, b, never, c)
	r = e.mustCtl(1, "update", "--json")
	var ch struct {
		Added  []string `json:"added"`
		Failed []struct{ App, Error string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &ch); err != nil || !reflect.DeepEqual(ch.Added, []string{"c"}) ||
		len(ch.Failed) != 1 || ch.Failed[0].App != "c" || !strings.Contains(ch.Failed[0].Error, "exited before it was ready") {
		t.Fatalf("update --json: %q (%v)", r.stdout, err)
	}
}
