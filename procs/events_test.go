package procs

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/internal/testutil"
)

// eventLog collects the events a supervisor emits.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// kinds lists the kinds seen so far, in order.
func (l *eventLog) kinds() []EventKind {
	var out []EventKind
	for _, ev := range l.all() {
		out = append(out, ev.Kind)
	}
	return out
}

// waitFor polls until the log has an event of kind, and returns the last one.
func (l *eventLog) waitFor(t *testing.T, kind EventKind) Event {
	t.Helper()
	var ev Event
	testutil.Eventually(t, 15*time.Second, "event "+string(kind), func() bool {
		for _, e := range l.all() {
			if e.Kind == kind {
				ev = e
			}
		}
		return ev.Kind == kind
	})
	return ev
}

// startWithEvents is startSupervisor with an event hook set before Start.
func startWithEvents(t *testing.T, apps ...config.App) (*Supervisor, *eventLog) {
	t.Helper()
	log := &eventLog{}
	s := startSupervisorWith(t, func(s *Supervisor) { s.SetEventHook(log.add) }, apps...)
	return s, log
}

func metricsOf(t *testing.T, s *Supervisor, name string) AppMetrics {
	t.Helper()
	ms, err := s.Metrics(name)
	if err != nil || len(ms) != 1 {
		t.Fatalf("metrics %s: %v %v", name, ms, err)
	}
	return ms[0]
}

// TestEventKindsMatchConfig: the kinds procs emits are the names the
// config's alerts.events accepts.
func TestEventKindsMatchConfig(t *testing.T) {
	kinds := []EventKind{EventCrash, EventRestart, EventReloadOK, EventReloadFailed, EventFatal, EventRecovered, EventUnhealthy, EventOOMKilled, EventRolledBack, EventDegraded}
	var names []string
	for _, k := range kinds {
		names = append(names, string(k))
	}
	if !slices.Equal(names, config.AlertEvents) {
		t.Errorf("procs kinds %v, config.AlertEvents %v", names, config.AlertEvents)
	}
}

// TestMetricsAndEventsAfterAKnownSequence drives one app through requests,
// a reload, a failed reload, an unhealthy instance and a crash, and checks
// every counter and the events in order.
func TestMetricsAndEventsAfterAKnownSequence(t *testing.T) {
	dir := t.TempDir()
	crashFile, sickFile := filepath.Join(dir, "crash"), filepath.Join(dir, "sick")
	app := testApp(t, "web", modeHTTP, envCrashFile+"="+crashFile, envUnhealthyFile+"="+sickFile)
	s, log := startWithEvents(t, app)
	ctx := context.Background()

	const requests = 7
	for i := range requests {
		if _, err := ask(t, s, "web"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	m := metricsOf(t, s, "web")
	if m.Traffic.Accepted != requests || m.Traffic.Failed != 0 || m.Traffic.BytesIn == 0 || m.Traffic.BytesOut == 0 {
		t.Errorf("after %d requests: traffic %+v", requests, m.Traffic)
	}
	if m.Status.State != AppRunning || m.Crashes+m.Restarts+m.ReloadsOK+m.ReloadsFailed+m.Unhealthy != 0 {
		t.Errorf("after start: %+v", m)
	}
	if len(log.all()) != 0 {
		t.Errorf("a clean start emitted %v", log.kinds())
	}

	// A reload.
	res, err := s.Reload(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	ok := log.waitFor(t, EventReloadOK)
	if ok.PID != res.PID || ok.Port != res.Port || ok.State != AppRunning || ok.App != "web" || ok.DurationMS <= 0 {
		t.Errorf("reload_ok event %+v, reload %+v", ok, res)
	}

	// A failed reload: every try of the new instance exits at once.
	os.WriteFile(crashFile, nil, 0o644)
	if _, err := s.Reload(ctx, "web"); err == nil {
		t.Fatal("reload with the crash file succeeded")
	}
	os.Remove(crashFile)
	failed := log.waitFor(t, EventReloadFailed)
	if failed.PID != res.PID || failed.State != AppRunning || failed.Error == "" {
		t.Errorf("reload_failed event %+v", failed)
	}

	// An unhealthy instance is replaced.
	sick := servingPID(t, s, "web")
	os.WriteFile(sickFile, []byte(strconv.Itoa(sick)), 0o644)
	un := log.waitFor(t, EventUnhealthy)
	rec := log.waitFor(t, EventRecovered)
	if un.PID != sick || rec.PID == sick || rec.State != AppRunning {
		t.Errorf("unhealthy %+v, recovered %+v", un, rec)
	}

	// A crash of the serving instance, and its restart.
	crashed := servingPID(t, s, "web")
	get(noKeepAlive, "http://"+status(t, s, "web").External+"/exit")
	crash := log.waitFor(t, EventCrash)
	testutil.Eventually(t, 10*time.Second, "a second recovery", func() bool {
		n := 0
		for _, k := range log.kinds() {
			if k == EventRecovered {
				n++
			}
		}
		return n == 2
	})
	if crash.PID != crashed || crash.State != AppBackoff || crash.Error == "" {
		t.Errorf("crash event %+v", crash)
	}

	want := []EventKind{EventReloadOK, EventReloadFailed, EventUnhealthy, EventRecovered, EventCrash, EventRestart, EventRecovered}
	evs := log.all()
	if got := log.kinds(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq != evs[i-1].Seq+1 {
			t.Errorf("seq %d after %d", evs[i].Seq, evs[i-1].Seq)
		}
	}

	m = metricsOf(t, s, "web")
	checks := []struct {
		what      string
		got, want uint64
	}{
		{"reloads ok (reload + unhealthy replacement)", m.ReloadsOK, 2},
		{"reloads failed", m.ReloadsFailed, 1},
		{"reload histogram count", m.ReloadSeconds.Count, 2},
		{"unhealthy", m.Unhealthy, 1},
		{"crashes", m.Crashes, 1},
		{"restarts", m.Restarts, 1},
		{"accepted (the /exit request too)", m.Traffic.Accepted, requests + 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}
	if m.HealthcheckFailures < uint64(app.HealthcheckFailures) {
		t.Errorf("healthcheck failures %d, want at least %d", m.HealthcheckFailures, app.HealthcheckFailures)
	}
	if n := len(m.ReloadSeconds.Counts); n != len(ReloadBuckets) || m.ReloadSeconds.Counts[n-1] != 2 || m.ReloadSeconds.Sum <= 0 {
		t.Errorf("reload histogram %+v", m.ReloadSeconds)
	}
}

// TestFatalEvents: a start that keeps failing emits a restart per retry,
// then fatal; a start that works again emits recovered.
func TestFatalEvents(t *testing.T) {
	crashFile := filepath.Join(t.TempDir(), "crash")
	os.WriteFile(crashFile, nil, 0o644)
	app := testApp(t, "bad", modeHTTP, envCrashFile+"="+crashFile)
	s, log := startWithEvents(t, app)
	fatal := log.waitFor(t, EventFatal)
	want := []EventKind{EventRestart, EventRestart, EventFatal} // max_retries 2: 3 tries
	if got := log.kinds(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if fatal.State != AppFatal || fatal.Failures != 3 || fatal.Error == "" {
		t.Errorf("fatal event %+v", fatal)
	}
	if m := metricsOf(t, s, "bad"); m.Restarts != 2 || m.Status.State != AppFatal {
		t.Errorf("metrics %+v", m)
	}
	os.Remove(crashFile)
	if err := s.StartApp(context.Background(), "bad"); err != nil {
		t.Fatal(err)
	}
	if rec := log.waitFor(t, EventRecovered); rec.State != AppRunning || rec.PID != servingPID(t, s, "bad") {
		t.Errorf("recovered event %+v", rec)
	}
}

// TestTrafficSurvivesANewFront: an update that gives the app a new
// listener keeps its traffic counters.
func TestTrafficSurvivesANewFront(t *testing.T) {
	app := testApp(t, "web", modeHTTP)
	s, _ := startWithEvents(t, app)
	for range 3 {
		if _, err := ask(t, s, "web"); err != nil {
			t.Fatal(err)
		}
	}
	changed := app
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	changed.ExternalPort = ln.Addr().(*net.TCPAddr).Port // a new front
	ln.Close()
	if _, err := s.Update(context.Background(), testConfig(changed)); err != nil {
		t.Fatal(err)
	}
	if _, err := ask(t, s, "web"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "4 accepted connections", func() bool {
		m := metricsOf(t, s, "web")
		return m.Traffic.Accepted == 4 && m.Traffic.Active == 0
	})
	if ms, err := s.Metrics("nope"); err == nil {
		t.Errorf("metrics of an unknown app: %v", ms)
	}
}
