package procs

import (
	"fmt"
	"time"
)

// This file is what the app loop does when a serving instance fails: it
// crashed, failed its health checks, or was replaced by both. Every
// method runs on appLoop.

// crashed handles the exit of the serving member m. New clients go to the
// other instances; with none left they wait (connect_timeout) while a new
// instance starts in m's slot, after a backoff unless m had run long
// enough to count as stable.
func (a *app) crashed(m *member) {
	slot := m.in.slot
	delete(a.serving, slot)
	m.stopHealth()
	a.route()
	up := time.Since(m.servingSince)
	err := fmt.Errorf("pid %d exited after serving %s: %v", m.in.pid, up.Round(time.Millisecond), m.in.exitError())
	a.lastErr = err.Error()
	a.logger.Warn("instance crashed", "err", err, "slot", slot)
	a.counters.crashes++
	a.troubled = true
	a.emit(Event{Kind: EventCrash, PID: m.in.pid, Port: m.in.port, Error: err.Error(), DurationMS: ms(up)})
	if slot >= a.instances() { // a reload to fewer instances was about to shed it
		return
	}
	if at := a.attempt; at != nil { // an attempt is under way: it fills the slot too
		if len(a.serving) == 0 { // its instances now restore service
			at.reload = false
		}
		a.add(slot)
		return
	}
	if up >= a.d.timing.stableAfter {
		a.failures = 0
		a.beginSlots(false, nil, []int{slot})
		return
	}
	a.failures++
	a.attempt = newAttempt(false, []int{slot}, nil)
	if a.failures > a.cfg.MaxRetries {
		a.giveUp(fmt.Errorf("%d short runs or failed starts in a row, last: %w", a.failures, err))
		return
	}
	a.retry.arm(a.d.timing.backoff(a.failures))
}

// onProbeFailed counts a failed health check of a serving instance and
// replaces the instance after healthcheck_failures in a row.
func (a *app) onProbeFailed(in *instance, err error, inARow int) {
	a.counters.healthFailures++
	if inARow >= max(in.cfg.HealthcheckFailures, 1) {
		a.onUnhealthy(in, fmt.Errorf("health check failed %d times in a row: %w", inARow, err))
	}
}

// onUnhealthy replaces a serving instance that failed its health checks
// through the reload path: it serves until its replacement in the same
// slot is ready; the other instances are not touched.
func (a *app) onUnhealthy(in *instance, err error) {
	m := a.memberOf(in)
	if m == nil || !a.want {
		return
	}
	a.lastErr = fmt.Sprintf("pid %d: %v", in.pid, err)
	if a.standby != nil {
		a.counters.unhealthy++
		a.retire(a.rollBack(a.lastErr))
		return
	}
	a.logger.Warn("replacing unhealthy instance", "pid", in.pid, "err", err, "slot", in.slot)
	m.unhealthy = true
	a.counters.unhealthy++
	a.troubled = true
	a.emit(Event{Kind: EventUnhealthy, PID: in.pid, Port: in.port, Error: a.lastErr})
	if a.attempt == nil {
		a.beginSlots(true, nil, []int{in.slot})
		return
	}
	a.add(in.slot)
}

// countAdoption counts and reports an attempt whose instances all serve: a
// reload, and the app's recovery if it was in trouble (crash, failed
// starts, FATAL, unhealthy). first is the app's first serving member.
func (a *app) countAdoption(at *attempt, first *member, took time.Duration) {
	if at.reload && at.revert == nil {
		a.lastReload = ReloadOK
		a.counters.reloadsOK++
		a.counters.reloadSeconds.observe(took.Seconds())
		if !at.replacedUnhealthy {
			a.emit(Event{Kind: EventReloadOK, PID: first.in.pid, Port: first.in.port, DurationMS: ms(took)})
		}
	}
	if a.troubled {
		a.troubled = false
		a.emit(Event{Kind: EventRecovered, PID: first.in.pid, Port: first.in.port, DurationMS: ms(took)})
	}
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
