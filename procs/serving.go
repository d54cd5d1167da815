package procs

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// This file is the serving side of the app loop: switching traffic to a
// ready instance, retiring the one before, health, crashes and exits.
// Every method runs on appLoop.

// adopt switches new connections to the attempt's ready instance and
// retires the one that served before.
func (a *app) adopt(at *attempt) {
	m := &member{in: at.in, servingSince: time.Now(), stopHealth: func() {}}
	m.in.state = InstServing
	if at.front != nil { // the address changed: move to the new front
		a.moveFront(at, m.in)
	} else {
		a.front.setLimits(&m.in.cfg) // connect_timeout, max_connections come with the instance
		a.front.proxy.Switch(m.in.backend)
		a.front.accept() // a gated front (TakeOver) accepts from its first instance on
	}
	prev := a.serving
	if prev != nil {
		if time.Since(prev.servingSince) >= a.d.timing.stableAfter {
			a.failures = 0
		}
		if a.mayStandBy(at, prev, m) {
			a.standBy(prev, m.in.cfg.RollbackWindow)
		} else {
			a.retire(prev)
		}
	}
	a.serving = m
	a.adopted++
	a.watchHealth(m)
	a.startMemoryWatch(m)
	took := time.Since(at.begun)
	a.logger.Info("instance serves", "pid", m.in.pid, "port", m.in.port, "took", took)
	a.countAdoption(at, prev, m, took)
	a.answer(at, outcome{res: ReloadResult{
		App: a.name, PID: m.in.pid, Port: m.in.port, DurationMS: ms(took),
	}}, false)
	at.waiters = nil
	a.finish(outcome{})
}

// moveFront makes the attempt's new front the app's, serving in. The old
// front stops accepting; clients it accepted but has not routed yet go to
// in as well, through the same Backend, so in's drain later waits for
// them too. The old front shuts down once the instance it served has exited.
func (a *app) moveFront(at *attempt, in *instance) {
	at.front.proxy.Switch(in.backend)
	a.traffic.open = append(a.traffic.open, at.front)
	a.wg.Add(1)
	go serveFront(at.front, a.logger, &a.wg)
	old := a.front
	a.front, at.front = at.front, nil
	_ = old.ln.Close()
	old.proxy.Switch(in.backend)
	until := closedChan
	if a.serving != nil {
		until = a.serving.in.exited
	}
	a.wg.Add(1)
	go retireFront(a, old, until)
}

// watchHealth starts health checks of the serving member, if it has any,
// ending those it had before.
func (a *app) watchHealth(m *member) {
	m.stopHealth()
	m.stopHealth = func() {}
	if m.in.cfg.Healthcheck == "" || m.in.cfg.HealthcheckInterval <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(a.abort)
	m.stopHealth = cancel
	a.wg.Add(1)
	go watchHealth(a, ctx, m.in, a.d.sys.prober(&m.in.cfg, m.in.port))
}

// retire lets the member's connections drain, then stops it. Its backend
// is already retired by the Switch or Refuse that replaced it.
func (a *app) retire(m *member) {
	m.stopHealth()
	m.in.state = InstDraining
	a.retired[m.in] = true
	a.wg.Add(1)
	go drainAndStop(a, m.in, backends(m.in), m.in.cfg.StopSignal)
}

// onStopping records that a retired instance is being stopped.
func (a *app) onStopping(in *instance) {
	if a.retired[in] {
		in.state = InstStopping
	}
}

// discard stops an instance that is not serving; it stays listed until it
// has exited.
func (a *app) discard(in *instance, graceful bool) {
	if in.hasExited() {
		return
	}
	in.state = InstStopping
	a.retired[in] = true
	a.wg.Add(1)
	sig := syscall.SIGKILL // its start failed
	if graceful {          // dismissed (stop during start)
		sig = in.cfg.StopSignal
	}
	go drainAndStop(a, in, nil, sig)
}

// onExit handles the exit of any instance of the app. Connections still
// open to it are wound down (l4proxy.Backend.Gone): nothing can answer them
// now, and a client that reads nothing must not keep their slots.
func (a *app) onExit(in *instance) {
	a.logger.Info("instance exited", "pid", in.pid, "status", in.exitError().Error(),
		"after", time.Since(in.startedAt).Round(time.Millisecond))
	switch {
	case a.retired[in]:
		delete(a.retired, in)
		in.state = InstExited
		gone(in)
		if a.standby != nil && a.standby.in == in { // nothing to roll back to any more
			a.standby = nil
			a.window.stop()
		}
	case a.serving != nil && a.serving.in == in && a.standby != nil:
		a.rollBackOnExit(in) // retires its backend first: no new client is sent to it
		in.state = InstExited
		gone(in)
	case a.serving != nil && a.serving.in == in:
		a.crashed() // retires its backend first: no new client is sent to it
		in.state = InstExited
		gone(in)
	case a.attempt != nil && a.attempt.in == in:
		// Exited before it was adopted. watchReady reports this too, but its
		// report may come second, or say "ready" for a probe that passed just
		// before the exit: the exit decides.
		a.attempt.cancel()
		a.tryFailed(in, fmt.Errorf("pid %d on port %d: %w (%s)", in.pid, in.port, errExitedEarly, in.exitCause()))
	}
}

// crashed handles the exit of the serving instance: new clients wait
// (connect_timeout) while a new instance starts, after a backoff unless
// the instance had run long enough to count as stable.
func (a *app) crashed() {
	m := a.serving
	a.serving = nil
	m.stopHealth()
	a.front.proxy.Switch(nil)
	up := time.Since(m.servingSince)
	err := fmt.Errorf("pid %d exited after serving %s: %v", m.in.pid, up.Round(time.Millisecond), m.in.exitError())
	a.lastErr = err.Error()
	a.logger.Warn("instance crashed", "err", err)
	a.counters.crashes++
	a.troubled = true
	a.emit(Event{Kind: EventCrash, PID: m.in.pid, Port: m.in.port, Error: err.Error(), DurationMS: ms(up)})
	if a.attempt != nil { // a reload was under way: its instance now restores service
		a.attempt.reload = false
		return
	}
	if up >= a.d.timing.stableAfter {
		a.failures = 0
		a.begin(false, nil)
		return
	}
	a.failures++
	a.attempt = &attempt{begun: time.Now()}
	if a.failures > a.cfg.MaxRetries {
		a.giveUp(fmt.Errorf("%d short runs or failed starts in a row, last: %w", a.failures, err))
		return
	}
	a.retry.arm(a.d.timing.backoff(a.failures))
}

// onProbeFailed counts a failed health check of the serving instance and
// replaces the instance after healthcheck_failures in a row.
func (a *app) onProbeFailed(in *instance, err error, inARow int) {
	a.counters.healthFailures++
	if inARow >= max(in.cfg.HealthcheckFailures, 1) {
		a.onUnhealthy(in, fmt.Errorf("health check failed %d times in a row: %w", inARow, err))
	}
}

// onUnhealthy replaces a serving instance that failed its health checks
// through the reload path: it serves until the new one is ready.
func (a *app) onUnhealthy(in *instance, err error) {
	if a.serving == nil || a.serving.in != in || !a.want {
		return
	}
	a.lastErr = fmt.Sprintf("pid %d: %v", in.pid, err)
	if a.standby != nil {
		a.counters.unhealthy++
		a.retire(a.rollBack(a.lastErr))
		return
	}
	a.logger.Warn("replacing unhealthy instance", "pid", in.pid, "err", err)
	a.serving.unhealthy = true
	a.counters.unhealthy++
	a.troubled = true
	a.emit(Event{Kind: EventUnhealthy, PID: in.pid, Port: in.port, Error: a.lastErr})
	if a.attempt == nil {
		a.begin(true, nil)
	}
}

// countAdoption counts and reports an instance that took over: a reload,
// and the app's recovery if it was in trouble (crash, failed starts,
// FATAL, unhealthy).
func (a *app) countAdoption(at *attempt, prev, m *member, took time.Duration) {
	if at.reload {
		a.lastReload = ReloadOK
		a.counters.reloadsOK++
		a.counters.reloadSeconds.observe(took.Seconds())
		if prev == nil || !prev.unhealthy {
			a.emit(Event{Kind: EventReloadOK, PID: m.in.pid, Port: m.in.port, DurationMS: ms(took)})
		}
	}
	if a.troubled {
		a.troubled = false
		a.emit(Event{Kind: EventRecovered, PID: m.in.pid, Port: m.in.port, DurationMS: ms(took)})
	}
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
