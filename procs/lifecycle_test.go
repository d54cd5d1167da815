package procs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
)

// The app lifecycle with a fake OS (fakeSystem): every case runs in
// milliseconds, because time-dependent parts use tiny durations.

// fastTiming makes backoff and readiness polling take a millisecond.
var fastTiming = timing{backoffBase: time.Millisecond, backoffMax: 4 * time.Millisecond, stableAfter: time.Hour, readyPoll: time.Millisecond}

// fakeApp is an app for fakeSystem, with tiny timeouts.
func fakeApp(t *testing.T) config.App {
	dir := t.TempDir()
	rot := config.Rotation{MaxSizeMB: 1}
	return config.App{
		Name: "web", Command: "fake --port={port}", Healthcheck: "/health",
		InternalHost: "127.0.0.1", ExternalHost: "127.0.0.1", StopSignal: syscall.SIGTERM,
		MaxRetries: 2, StartTimeout: 30 * time.Millisecond, StopTimeout: 20 * time.Millisecond,
		HealthcheckInterval: time.Millisecond, HealthcheckTimeout: 10 * time.Millisecond, HealthcheckFailures: 2,
		DrainTimeout: 50 * time.Millisecond, ConnectTimeout: 100 * time.Millisecond,
		Stdout: config.LogFile{Path: filepath.Join(dir, "out"), Rotation: rot},
		Stderr: config.LogFile{Path: filepath.Join(dir, "err"), Rotation: rot},
	}
}

// harness is one case's supervisor, fake OS and event log.
type harness struct {
	t   *testing.T
	s   *Supervisor
	sys *fakeSystem
	log *eventLog
	cfg config.App
}

// startFake starts a supervisor of one fakeApp on sys; tune may change the
// app and the timing before Start.
func startFake(t *testing.T, sys *fakeSystem, tune func(*config.App, *timing)) *harness {
	t.Helper()
	h := &harness{t: t, sys: sys, log: &eventLog{}, cfg: fakeApp(t)}
	tm := fastTiming
	if tune != nil {
		tune(&h.cfg, &tm)
	}
	h.s = New(testConfig(h.cfg), testLogger(t))
	h.s.d.timing, h.s.d.sys = tm, sys
	h.s.SetEventHook(h.log.add)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	if err := h.s.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	return h
}

// await polls (every 100 µs) until cond holds, for at most a second.
func (h *harness) await(what string, cond func(st AppStatus) bool) AppStatus {
	h.t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		st := status(h.t, h.s, "web")
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("waiting for %s: status %+v, events %v", what, st, h.log.kinds())
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// serves waits until the i-th started process is the only instance and serves.
func (h *harness) serves(i int) {
	h.t.Helper()
	h.await(fmt.Sprintf("start #%d to serve alone", i), func(st AppStatus) bool {
		p := h.sys.proc(i)
		return st.State == AppRunning && p != nil && len(st.Instances) == 1 &&
			st.Instances[0].PID == p.id && st.Instances[0].State == InstServing
	})
}

func (h *harness) state(want AppState) {
	h.t.Helper()
	h.await(string(want), func(st AppStatus) bool { return st.State == want })
}

func (h *harness) events(want ...EventKind) {
	h.t.Helper()
	h.await("events "+strings.Join(kindStrings(want), ","), func(AppStatus) bool {
		return slices.Equal(h.log.kinds(), want)
	})
}

func kindStrings(ks []EventKind) []string {
	var out []string
	for _, k := range ks {
		out = append(out, string(k))
	}
	return out
}

// reloadFails reloads and checks that the old instance (start #0) still serves.
func (h *harness) reloadFails(wantErr string) {
	h.t.Helper()
	_, err := h.s.Reload(context.Background(), "web")
	if err == nil || !strings.Contains(err.Error(), "still serves") || !strings.Contains(err.Error(), wantErr) {
		h.t.Fatalf("reload = %v; want it to fail with %q, the old instance serving", err, wantErr)
	}
	h.serves(0)
	h.events(EventReloadFailed)
}

// window sets a rollback window.
func window(d time.Duration) func(*config.App, *timing) {
	return func(c *config.App, _ *timing) { c.RollbackWindow = d }
}

// reloadInWindow reloads once start #(i-1) serves: start #i serves, and
// #(i-1) stands by (DRAINING, never signalled).
func (h *harness) reloadInWindow(i int) {
	h.t.Helper()
	h.serves(i - 1)
	if _, err := h.s.Reload(context.Background(), "web"); err != nil {
		h.t.Fatal(err)
	}
	st := status(h.t, h.s, "web")
	if len(st.Instances) != 2 || st.Instances[0].PID != h.sys.proc(i).id || st.Instances[1].State != InstDraining ||
		h.sys.proc(i-1).exited() {
		h.t.Fatalf("after the reload: %+v; want #%d serving, #%d standing by", st, i, i-1)
	}
}

// rolledBack checks the status and the routing after a rollback to start
// #i: its current backend is a new one (not retired) behind the one the
// reload retired.
func (h *harness) rolledBack(i int) {
	h.t.Helper()
	st := status(h.t, h.s, "web")
	bs := viewOf(h.t, h.s, "web").backends[0]
	if st.LastReload != ReloadRolledBack || st.State != AppRunning || st.Instances[0].PID != h.sys.proc(i).id ||
		len(bs) < 2 || bs[len(bs)-1].Retired() || !bs[0].Retired() {
		h.t.Errorf("after the rollback: %+v, backends %v; want #%d serving through a fresh backend, rolled_back", st, bs, i)
	}
}

// waitForever lets a gated start wait for its gate however slow the machine.
func waitForever(c *config.App, _ *timing) { c.StartTimeout = 0 }

var errNoSuchFile = errors.New("fork/exec fake: no such file or directory")

// lifecycleCase is one case of a fake-OS lifecycle table: the fake
// processes' script, the app's tuning, and what to do and check.
type lifecycleCase struct {
	name   string
	script []fakeRun
	tune   func(*config.App, *timing)
	run    func(h *harness)
}

// runLifecycle runs each case on a fresh harness.
func runLifecycle(t *testing.T, cases []lifecycleCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(startFake(t, newFakeSystem(c.script...), c.tune))
		})
	}
}

func TestLifecycle(t *testing.T) {
	ok, crash := fakeRun{}, fakeRun{crash: true}
	cases := []lifecycleCase{
		// The happy path.
		{"start, ready, reload flips, old drains and stops", []fakeRun{ok}, nil, func(h *harness) {
			h.serves(0)
			res, err := h.s.Reload(context.Background(), "web")
			if err != nil || res.PID != h.sys.proc(1).id {
				h.t.Fatalf("reload = %+v, %v", res, err)
			}
			h.serves(1)
			if !h.sys.proc(0).gotSignal(syscall.SIGTERM) {
				h.t.Error("the old instance did not get its stop_signal")
			}
			h.events(EventReloadOK)
			if err := h.s.StopApp(context.Background(), "web"); err != nil || !h.sys.proc(1).exited() {
				h.t.Fatalf("stop = %v; exited %v", err, h.sys.proc(1).exited())
			}
			h.state(AppStopped)
		}},

		// Crashes.
		{"every start crashes: backoff, then FATAL", []fakeRun{crash}, nil, func(h *harness) {
			h.state(AppFatal)
			h.events(EventRestart, EventRestart, EventFatal)
			if n := h.sys.starts(); n != 3 {
				h.t.Errorf("%d starts, want 3 (max_retries 2)", n)
			}
		}},
		{"the serving instance crashes and is restarted", []fakeRun{ok}, nil, func(h *harness) {
			h.serves(0)
			h.sys.proc(0).exit(errors.New("exit status 1"))
			h.serves(1)
			h.events(EventCrash, EventRestart, EventRecovered)
		}},
		{"crashes after a stable run do not count", []fakeRun{ok}, func(c *config.App, tm *timing) {
			c.MaxRetries, tm.stableAfter = 0, 0
		}, func(h *harness) {
			for i := range 3 {
				h.serves(i)
				h.sys.proc(i).exit(errors.New("exit status 1"))
			}
			h.serves(3)
		}},
		{"an exit handled before a passing probe is not adopted", []fakeRun{{exitThenReady: true}, ok}, nil, func(h *harness) {
			h.serves(1)
			h.events(EventRestart, EventRecovered)
		}},

		// Health.
		{"health failures replace the instance", []fakeRun{{sick: true}, ok}, nil, func(h *harness) {
			h.serves(1)
			h.events(EventUnhealthy, EventRecovered)
			if m := metricsOf(h.t, h.s, "web"); m.Unhealthy != 1 || m.HealthcheckFailures < 2 || m.ReloadsOK != 1 {
				h.t.Errorf("metrics %+v", m)
			}
		}},
		{"a failed replacement keeps one health checker", []fakeRun{{sick: true}, crash}, func(c *config.App, _ *timing) {
			c.MaxRetries = 0
		}, func(h *harness) {
			h.await("two failed replacements", func(AppStatus) bool { return metricsOf(h.t, h.s, "web").ReloadsFailed >= 2 })
			if n := countGoroutines("procs.watchHealth("); n > 1 {
				h.t.Errorf("%d health checkers of one instance", n)
			}
			h.serves(0)
		}},

		// A reload failing at each step: the old instance serves on.
		{"reload: the new instance exits early", []fakeRun{ok, crash}, nil, func(h *harness) {
			h.reloadFails(errExitedEarly.Error())
			if n := h.sys.starts(); n != 4 {
				h.t.Errorf("%d starts, want 1 + 3 tries", n)
			}
		}},
		{"reload: the new instance is never ready", []fakeRun{ok, {neverReady: true}}, func(c *config.App, _ *timing) {
			c.StartTimeout = 5 * time.Millisecond
		}, func(h *harness) {
			h.reloadFails(errStartTimeout.Error())
		}},
		{"reload: the new instance cannot start", []fakeRun{ok, {startErr: errNoSuchFile}}, nil, func(h *harness) {
			h.reloadFails(errNoSuchFile.Error())
		}},

		// The rollback window: the instance before a reload stands by.
		{"rollback window: the new instance exits, traffic goes back", []fakeRun{ok}, window(time.Hour), func(h *harness) {
			h.reloadInWindow(1)
			h.sys.proc(1).exit(errors.New("exit status 1"))
			h.serves(0)
			h.events(EventReloadOK, EventCrash, EventRolledBack)
			h.rolledBack(0)
			if h.sys.proc(0).exited() || h.sys.starts() != 2 {
				h.t.Errorf("the old instance exited (%v) or a new one started (%d starts)", h.sys.proc(0).exited(), h.sys.starts())
			}
		}},
		{"rollback window: the new instance turns unhealthy, traffic goes back", []fakeRun{ok, {sick: true}}, window(time.Hour), func(h *harness) {
			h.reloadInWindow(1)
			h.serves(0) // the unhealthy one was stopped
			if !h.sys.proc(1).gotSignal(syscall.SIGTERM) {
				h.t.Error("the unhealthy instance did not get its stop_signal")
			}
			h.events(EventReloadOK, EventRolledBack)
			h.rolledBack(0)
			if m := metricsOf(h.t, h.s, "web"); m.Unhealthy != 1 || m.RolledBack != 1 {
				h.t.Errorf("metrics %+v", m)
			}
		}},
		{"rollback window: by hand, once", []fakeRun{ok}, window(time.Hour), func(h *harness) {
			h.reloadInWindow(1)
			res, err := h.s.Rollback(context.Background(), "web")
			if err != nil || res.PID != h.sys.proc(0).id {
				h.t.Fatalf("rollback = %+v, %v; want pid %d", res, err, h.sys.proc(0).id)
			}
			h.serves(0)
			h.rolledBack(0)
			if _, err := h.s.Rollback(context.Background(), "web"); !errors.Is(err, ErrNothingToRollBack) {
				h.t.Errorf("second rollback = %v, want ErrNothingToRollBack", err)
			}
		}},
		{"rollback window: it ends, the old instance stops", []fakeRun{ok}, window(300 * time.Millisecond), func(h *harness) {
			h.reloadInWindow(1)
			h.serves(1)
			if !h.sys.proc(0).gotSignal(syscall.SIGTERM) {
				h.t.Error("the old instance did not get its stop_signal when the window ended")
			}
			if _, err := h.s.Rollback(context.Background(), "web"); !errors.Is(err, ErrNothingToRollBack) {
				h.t.Errorf("rollback after the window = %v, want ErrNothingToRollBack", err)
			}
			if st := status(h.t, h.s, "web"); st.LastReload != ReloadOK {
				h.t.Errorf("last reload %q, want ok", st.LastReload)
			}
		}},
		{"rollback window: a reload within it stands the last instance by", []fakeRun{ok}, window(time.Hour), func(h *harness) {
			h.reloadInWindow(1)
			if _, err := h.s.Reload(context.Background(), "web"); err != nil {
				h.t.Fatal(err)
			}
			h.await("start #0 stopped, #1 standing by, #2 serving", func(st AppStatus) bool {
				return len(st.Instances) == 2 && st.Instances[0].PID == h.sys.proc(2).id && st.Instances[1].PID == h.sys.proc(1).id
			})
			if !h.sys.proc(0).exited() || h.sys.proc(1).exited() {
				h.t.Errorf("exited: #0 %v (want true), #1 %v (want false)", h.sys.proc(0).exited(), h.sys.proc(1).exited())
			}
			if _, err := h.s.Rollback(context.Background(), "web"); err != nil {
				h.t.Fatal(err)
			}
			h.serves(1)
			h.rolledBack(1)
		}},

		// Operations while an instance starts.
		{"stop during start", []fakeRun{ok, {gated: true}}, waitForever, func(h *harness) {
			started := h.stopAndStartHeld()
			if err := h.s.StopApp(context.Background(), "web"); err != nil {
				h.t.Fatal(err)
			}
			if err := <-started; !errors.Is(err, ErrStopped) {
				h.t.Errorf("start cut short by a stop = %v, want ErrStopped", err)
			}
			h.state(AppStopped)
			if p := h.sys.proc(1); !p.gotSignal(syscall.SIGTERM) || !p.exited() {
				h.t.Errorf("the starting instance got %v", p.signals)
			}
		}},
		{"update during start", []fakeRun{ok, {gated: true}, ok}, waitForever, func(h *harness) {
			started := h.stopAndStartHeld()
			changed := h.cfg
			changed.Environment = []string{"EXTRA=new"}
			updated := make(chan error, 1)
			go func() { _, err := h.s.Update(context.Background(), testConfig(changed)); updated <- err }()
			h.await("the update to wait for the start", func(AppStatus) bool { return viewOf(h.t, h.s, "web").queued > 0 })
			h.sys.proc(1).open.Store(true)
			if err := <-started; err != nil {
				h.t.Fatal(err)
			}
			if err := <-updated; err != nil {
				h.t.Fatal(err)
			}
			h.serves(2)
			if env := h.sys.proc(2).cfg.Environment; !slices.Equal(env, changed.Environment) {
				h.t.Errorf("the instance after the update runs with %q", env)
			}
		}},
		{"update: a changed app whose reload fails is listed as failed", []fakeRun{ok, crash}, nil, func(h *harness) {
			h.serves(0)
			changed := h.cfg
			changed.Environment = []string{"EXTRA=new"}
			ch, err := h.s.Update(context.Background(), testConfig(changed))
			if err != nil || !slices.Equal(ch.Changed, []string{"web"}) || len(ch.Failed) != 1 ||
				ch.Failed[0].App != "web" || !strings.Contains(ch.Failed[0].Error, "still serves") {
				h.t.Fatalf("update = %+v, %v; want web changed and failed, the old instance serving", ch, err)
			}
			h.serves(0)
		}},
		{"status does not wait for a busy loop", []fakeRun{ok}, nil, func(h *harness) {
			h.serves(0)
			hold := make(chan struct{})
			h.sys.setHold(hold)
			reloaded := make(chan error, 1)
			go func() { _, err := h.s.Reload(context.Background(), "web"); reloaded <- err }()
			h.await("the loop to be forking", func(AppStatus) bool { return countGoroutines("(*fakeSystem).start") == 1 })
			done := make(chan AppStatus, 1)
			go func() { st, _ := h.s.Status("web"); _, _ = h.s.Metrics("web"); done <- st[0] }()
			select {
			case st := <-done:
				if st.State != AppRunning || st.Instances[0].PID != h.sys.proc(0).id {
					h.t.Errorf("status of a busy loop: %+v", st)
				}
			case <-time.After(time.Second):
				h.t.Error("status waited for the busy loop")
			}
			close(hold)
			if err := <-reloaded; err != nil {
				h.t.Fatal(err)
			}
		}},
	}
	began := time.Now()
	runLifecycle(t, cases)
	t.Logf("%d cases in %s", len(cases), time.Since(began).Round(time.Millisecond))
}

// stopAndStartHeld stops the serving app and starts it again in the
// background; start #1 is then STARTING. The result of StartApp comes on
// the returned channel.
func (h *harness) stopAndStartHeld() <-chan error {
	h.t.Helper()
	h.serves(0)
	if err := h.s.StopApp(context.Background(), "web"); err != nil {
		h.t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- h.s.StartApp(context.Background(), "web") }()
	h.state(AppStarting)
	return started
}
