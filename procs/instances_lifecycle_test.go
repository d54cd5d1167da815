package procs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
)

// The lifecycle of an app with several instances, with the fake OS.

// instances sets the instance count and reload strategy.
func instances(n int, strategy string) func(*config.App, *timing) {
	return func(c *config.App, _ *timing) { c.Instances, c.ReloadStrategy = n, strategy }
}

// oneTry is instances with max_retries 0: a reload gives up at its first
// failed try.
func oneTry(n int, strategy string) func(*config.App, *timing) {
	return func(c *config.App, _ *timing) { c.Instances, c.ReloadStrategy, c.MaxRetries = n, strategy, 0 }
}

// set waits until the app serves exactly the started processes starts, in
// slot order (starts[i] serves slot i), with nothing else listed.
func (h *harness) set(starts ...int) AppStatus {
	h.t.Helper()
	return h.await(fmt.Sprintf("starts %v to serve slots 0…", starts), func(st AppStatus) bool {
		if st.State != AppRunning || len(st.Instances) != len(starts) {
			return false
		}
		for i, n := range starts {
			p, in := h.sys.proc(n), st.Instances[i]
			if p == nil || in.PID != p.id || in.Slot != i || in.State != InstServing || p.slot != i {
				return false
			}
		}
		return true
	})
}

func TestInstancesLifecycle(t *testing.T) {
	ok, crash := fakeRun{}, fakeRun{crash: true}
	cases := []lifecycleCase{
		{"three start; a crash restarts that slot only", []fakeRun{ok}, instances(3, config.ReloadAllAtOnce), func(h *harness) {
			h.set(0, 1, 2)
			h.sys.proc(1).exit(errors.New("exit status 1"))
			h.set(0, 3, 2)
			h.events(EventCrash, EventRestart, EventRecovered)
			if st := status(h.t, h.s, "web"); st.Restarts != 1 {
				h.t.Errorf("restarts %d, want 1", st.Restarts)
			}
		}},
		{"an unhealthy instance is replaced alone", []fakeRun{ok, ok, {sick: true}, ok}, instances(3, config.ReloadAllAtOnce), func(h *harness) {
			h.set(0, 1, 3)
			h.events(EventUnhealthy, EventRecovered)
			if h.sys.proc(0).exited() || h.sys.proc(1).exited() {
				h.t.Error("a healthy instance was stopped")
			}
		}},
		{"all-at-once reload replaces every slot", []fakeRun{ok}, instances(3, config.ReloadAllAtOnce), func(h *harness) {
			h.set(0, 1, 2)
			res, err := h.s.Reload(context.Background(), "web")
			if err != nil || len(res.Instances) != 3 || res.Instances[2].PID != h.sys.proc(5).id {
				h.t.Fatalf("reload = %+v, %v", res, err)
			}
			h.set(3, 4, 5)
			for i := range 3 {
				if !h.sys.proc(i).gotSignal(syscall.SIGTERM) {
					h.t.Errorf("old instance #%d got no stop_signal", i)
				}
			}
			h.events(EventReloadOK)
		}},
		{"all-at-once reload: one new instance fails, the old set serves", []fakeRun{ok, ok, ok, ok, crash, ok},
			oneTry(3, config.ReloadAllAtOnce), func(h *harness) {
				h.set(0, 1, 2)
				_, err := h.s.Reload(context.Background(), "web")
				if err == nil || !strings.Contains(err.Error(), "the old instances") {
					h.t.Fatalf("reload = %v; want the old instances serving", err)
				}
				h.set(0, 1, 2)
				if !h.sys.proc(3).exited() || !h.sys.proc(5).exited() {
					h.t.Error("the reload's other new instances were not stopped")
				}
				h.events(EventReloadFailed)
			}},
		{"a slot whose restarts give up: the others serve on, degraded; a reload recovers",
			[]fakeRun{ok}, oneTry(3, config.ReloadAllAtOnce), func(h *harness) {
				h.set(0, 1, 2)
				h.sys.proc(1).exit(errors.New("exit status 1")) // a short run, and max_retries 0
				h.events(EventCrash, EventDegraded)
				st := h.await("two instances serving, the error named", func(st AppStatus) bool {
					return st.State == AppRunning && len(st.Instances) == 2 && strings.Contains(st.LastError, "serve on")
				})
				if st.Instances[0].Slot != 0 || st.Instances[1].Slot != 2 {
					h.t.Errorf("serving slots %d, %d; want 0 and 2", st.Instances[0].Slot, st.Instances[1].Slot)
				}
				if _, err := h.s.Reload(context.Background(), "web"); err != nil {
					h.t.Fatal(err)
				}
				h.set(3, 4, 5)
				h.events(EventCrash, EventDegraded, EventReloadOK, EventRecovered)
			}},
		{"rolling reload replaces one slot at a time", []fakeRun{ok}, instances(3, config.ReloadRolling), func(h *harness) {
			h.set(0, 1, 2)
			if _, err := h.s.Reload(context.Background(), "web"); err != nil {
				h.t.Fatal(err)
			}
			h.set(3, 4, 5)
			h.events(EventReloadOK)
		}},
		{"rolling reload: the 2nd new instance fails, the 1st slot goes back", []fakeRun{ok, ok, ok, ok, crash, ok},
			oneTry(3, config.ReloadRolling), func(h *harness) {
				h.set(0, 1, 2)
				_, err := h.s.Reload(context.Background(), "web")
				if err == nil || !strings.Contains(err.Error(), "going back to the old config") {
					h.t.Fatalf("reload = %v; want a failure that went back", err)
				}
				h.set(5, 1, 2) // slot 0 runs the old config again (start #5)
				if !h.sys.proc(3).exited() {
					h.t.Error("the replaced slot's new instance still runs")
				}
				if st := status(h.t, h.s, "web"); st.LastReload != ReloadFailed {
					h.t.Errorf("last reload %q", st.LastReload)
				}
				h.events(EventReloadFailed)
			}},
		{"all-at-once reload: an old instance that crashes meanwhile is replaced by the flip",
			[]fakeRun{ok, ok, ok, {gated: true}}, instances(3, config.ReloadAllAtOnce), func(h *harness) {
				h.set(0, 1, 2)
				done := make(chan error, 1)
				go func() { _, err := h.s.Reload(context.Background(), "web"); done <- err }()
				h.await("the reload's three instances", func(AppStatus) bool { return h.sys.starts() == 6 })
				h.sys.proc(1).exit(errors.New("exit status 1")) // slot 1 of the old set
				h.await("slot 1 empty, the others serving", func(st AppStatus) bool {
					return st.State == AppReloading && st.Instances[1].Slot == 2
				})
				for _, i := range []int{3, 4, 5} {
					h.sys.proc(i).open.Store(true)
				}
				if err := <-done; err != nil {
					h.t.Fatal(err)
				}
				h.set(3, 4, 5)
				if n := h.sys.starts(); n != 6 {
					h.t.Errorf("%d starts; the reload alone should fill slot 1", n)
				}
			}},
		{"a failed all-at-once reload fills a slot that crashed meanwhile",
			[]fakeRun{ok, ok, ok, {gated: true}, {gated: true}, {gated: true}, ok}, oneTry(3, config.ReloadAllAtOnce), func(h *harness) {
				h.set(0, 1, 2)
				done := make(chan error, 1)
				go func() { _, err := h.s.Reload(context.Background(), "web"); done <- err }()
				h.await("the reload's three instances", func(AppStatus) bool { return h.sys.starts() == 6 })
				h.sys.proc(1).exit(errors.New("exit status 1")) // slot 1 of the old set
				h.await("the crash", func(st AppStatus) bool { return st.Instances[1].Slot == 2 })
				h.sys.proc(4).exit(errors.New("exit status 3")) // the reload fails
				if err := <-done; err == nil {
					h.t.Fatal("the reload succeeded")
				}
				h.set(0, 6, 2)
			}},
		{"memory_reload replaces that instance alone", []fakeRun{ok}, func(c *config.App, tm *timing) {
			instances(3, config.ReloadAllAtOnce)(c, tm)
			c.Limits.MemoryReloadMB, c.StartTimeout = 1, time.Hour
		}, func(h *harness) {
			h.set(0, 1, 2)
			h.sys.proc(2).setMemory(2 << 20)
			h.set(0, 1, 3)
		}},
	}
	runLifecycle(t, cases)
}

func TestScaleLifecycle(t *testing.T) {
	ok := fakeRun{}
	t.Run("up, then down: the highest slots drain and stop", func(t *testing.T) {
		h := startFake(t, newFakeSystem(ok), nil)
		h.set(0)
		res, err := h.s.Scale(context.Background(), "web", 3)
		if err != nil || res.Instances != 3 || len(res.Serving) != 3 {
			t.Fatalf("scale up = %+v, %v", res, err)
		}
		h.set(0, 1, 2)
		if _, err := h.s.Scale(context.Background(), "web", 1); err != nil {
			t.Fatal(err)
		}
		h.set(0)
		if !h.sys.proc(1).gotSignal(syscall.SIGTERM) || !h.sys.proc(2).gotSignal(syscall.SIGTERM) {
			t.Error("the scaled-down instances got no stop_signal")
		}
		if n := h.sys.starts(); n != 3 {
			t.Errorf("%d starts; want 3 (no reload)", n)
		}
	})
	t.Run("out of range, or while reloading: refused", func(t *testing.T) {
		h := startFake(t, newFakeSystem(ok, fakeRun{gated: true}), waitForever)
		h.set(0)
		if _, err := h.s.Scale(context.Background(), "web", 0); !errors.Is(err, ErrBadCount) {
			t.Errorf("scale to 0: %v", err)
		}
		done := make(chan error, 1)
		go func() { _, err := h.s.Reload(context.Background(), "web"); done <- err }()
		h.state(AppReloading)
		if _, err := h.s.Scale(context.Background(), "web", 2); !errors.Is(err, ErrBusy) {
			t.Errorf("scale while reloading: %v", err)
		}
		h.sys.proc(1).open.Store(true)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an update of the count alone scales; the next update restores a scaled count", func(t *testing.T) {
		h := startFake(t, newFakeSystem(ok), nil)
		h.set(0)
		two := h.cfg
		two.Instances = 2
		if ch, err := h.s.Update(context.Background(), testConfig(two)); err != nil || len(ch.Failed) != 0 {
			t.Fatalf("update = %+v, %v", ch, err)
		}
		h.set(0, 1) // start #0 serves on: no reload
		if _, err := h.s.Scale(context.Background(), "web", 3); err != nil {
			t.Fatal(err)
		}
		h.set(0, 1, 2)
		ch, err := h.s.Update(context.Background(), testConfig(two))
		if err != nil || len(ch.Changed) != 1 {
			t.Fatalf("update = %+v, %v; want web changed back", ch, err)
		}
		h.set(0, 1)
	})
}
