package procs

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/gracevisor/gracevisor/l4proxy"
)

// This file is the attempt side of the app loop: bringing up a new
// instance, retrying, switching traffic, retiring the old one, crashes.
// Every method runs on appLoop.

// launch starts one try of the current attempt with the current config.
// A changed address gets a new front, bound here but not served until the
// new instance is adopted: until then clients keep using the current front
// and instance (new clients of the new address wait in its accept queue).
func (a *app) launch() {
	at := a.attempt
	if at == nil || at.in != nil {
		return
	}
	cfg := a.cfg
	if at.front == nil && cfg.ExternalAddr() != a.front.key.addr {
		ln, err := listen(&cfg)
		if err != nil {
			a.giveUp(err) // a bind error does not go away by retrying
			return
		}
		at.front = newFront(&cfg, ln, a.logger)
	}
	in, err := startInstance(a.d, a.ports, &cfg)
	if err != nil {
		a.tryFailed(nil, err)
		return
	}
	a.logger.Info("instance started", "pid", in.pid, "port", in.port)
	if !at.reload && a.troubled {
		a.counters.restarts++
		a.emit(Event{Kind: EventRestart, PID: in.pid, Port: in.port, Failures: a.failures})
	}
	ctx, cancel := context.WithCancel(a.abort)
	at.in, at.cancel = in, cancel
	at.backend = l4proxy.NewBackend(net.JoinHostPort(cfg.InternalHost, strconv.Itoa(in.port)))
	a.wg.Add(2)
	go watchExit(a, in)
	go watchReady(a, ctx, in)
}

// onReady handles the readiness result of a starting instance. reached is
// the address the passing probe connected to: new connections dial that IP
// literal instead of resolving internal_host each time.
func (a *app) onReady(in *instance, reached string, err error) {
	at := a.attempt
	if at == nil || at.in != in {
		return // dismissed, or its exit was handled first; it is being stopped
	}
	if err == nil {
		select {
		case <-in.exited: // exited after its probe passed: never adopt a dead instance
			err = fmt.Errorf("%w (%v)", errExitedEarly, in.exitError())
		default:
		}
	}
	at.cancel()
	if err != nil {
		a.tryFailed(in, fmt.Errorf("pid %d on port %d: %w", in.pid, in.port, err))
		return
	}
	if reached != "" {
		at.backend = l4proxy.NewBackend(reached)
	}
	a.adopt(at)
}

// tryFailed counts a failed try and either schedules the next one or gives
// up: a reload after max_retries failed tries (the old instance serves on),
// a start after max_retries consecutive failures (FATAL).
func (a *app) tryFailed(in *instance, err error) {
	at := a.attempt
	if in != nil {
		at.in, at.backend, at.cancel = nil, nil, nil
		a.discard(in, nil, false)
	}
	a.lastErr = err.Error()
	a.logger.Warn("start failed", "err", err)
	n := 0
	if at.reload {
		at.tries++
		n = at.tries
	} else {
		a.failures++
		n = a.failures
		a.troubled = true
	}
	if n > a.cfg.MaxRetries {
		a.giveUp(fmt.Errorf("%d tries failed, last: %w", n, err))
		return
	}
	a.answer(at, outcome{err: err}, true)
	a.armRetry(a.timing.backoff(n))
}

// giveUp ends the attempt with err: a failed reload leaves the old instance
// serving; otherwise the app is FATAL and its listener refuses clients.
func (a *app) giveUp(err error) {
	at := a.attempt
	if at.reload {
		err = fmt.Errorf("reload %s: %w; the old instance (pid %d) still serves", a.name, err, a.serving.in.pid)
		a.counters.reloadsFailed++
		a.emit(Event{Kind: EventReloadFailed, PID: a.serving.in.pid, Port: a.serving.in.port, Error: err.Error()})
	} else {
		err = fmt.Errorf("start %s: %w; app is FATAL", a.name, err)
		a.front.proxy.Refuse()
		a.logger.Error("app is FATAL: it gets no new instance until started again", "err", err)
		a.troubled = true
		a.emit(Event{Kind: EventFatal, Error: err.Error(), Failures: a.failures})
	}
	a.lastErr = err.Error()
	a.finish(outcome{err: err})
}

// finish ends the attempt, answers its waiters, and begins the reload that
// callers queued meanwhile.
func (a *app) finish(o outcome) {
	at := a.attempt
	a.attempt = nil
	a.stopRetry()
	if at.front != nil { // never served (adopt takes a served one): nobody accepted there
		_ = at.front.ln.Close()
	}
	a.answer(at, o, false)
	if m := a.serving; m != nil && m.unhealthy { // its replacement failed: keep checking it
		m.unhealthy = false
		a.watchHealth(m)
	}
	if queued := a.queued; len(queued) > 0 && a.want && !a.terminating {
		a.queued = nil
		if a.serving == nil { // a start for callers that came while an older one ran
			a.failures = 0
			a.front.proxy.Switch(nil)
		}
		a.begin(a.serving != nil, queued)
	}
}

// begin starts a new attempt for waiters.
func (a *app) begin(reload bool, waiters []waiter) {
	a.attempt = &attempt{reload: reload, begun: time.Now(), waiters: waiters}
	a.launch()
}

// answer replies to the attempt's waiters: all of them, or with onlyFirst
// those that wait for the first try only.
func (a *app) answer(at *attempt, o outcome, onlyFirst bool) {
	keep := at.waiters[:0]
	for _, w := range at.waiters {
		if onlyFirst && !w.firstTry {
			keep = append(keep, w)
			continue
		}
		a.send(w.reply, o)
	}
	at.waiters = keep
}

func (a *app) armRetry(d time.Duration) {
	a.stopRetry()
	a.retryTimer = time.NewTimer(d)
	a.retryC = a.retryTimer.C
}

func (a *app) stopRetry() {
	if a.retryTimer != nil {
		a.retryTimer.Stop()
	}
	a.retryTimer, a.retryC = nil, nil
}

// adopt switches new connections to the attempt's ready instance and
// retires the one that served before.
func (a *app) adopt(at *attempt) {
	m := &member{in: at.in, backend: at.backend, servingSince: time.Now(), stopHealth: func() {}}
	m.in.setState(InstServing)
	if at.front != nil { // the address changed: move to the new front
		at.front.proxy.Switch(m.backend)
		a.traffic.add(at.front)
		a.wg.Add(1)
		go serveFront(at.front, a.logger, &a.wg)
		old := a.front
		a.front, at.front = at.front, nil
		_ = old.ln.Close()
		// Clients the old address accepted but has not routed yet go to the
		// new instance too (through a backend of its own: a Backend serves
		// one proxy), rather than being refused.
		old.proxy.Switch(l4proxy.NewBackend(m.backend.Addr()))
		until := closedChan
		if a.serving != nil {
			until = a.serving.in.exited
		}
		a.wg.Add(1)
		go retireFront(a, old, until)
	} else {
		a.front.setLimits(&m.in.cfg) // connect_timeout, max_connections come with the instance
		a.front.proxy.Switch(m.backend)
	}
	prev := a.serving
	if prev != nil {
		if time.Since(prev.servingSince) >= a.timing.stableAfter {
			a.failures = 0
		}
		a.retire(prev)
	}
	a.serving = m
	a.adopted++
	a.watchHealth(m)
	took := time.Since(at.begun)
	a.logger.Info("instance serves", "pid", m.in.pid, "port", m.in.port, "took", took)
	a.countAdoption(at, prev, m, took)
	a.answer(at, outcome{res: ReloadResult{
		App: a.name, PID: m.in.pid, Port: m.in.port, DurationMS: float64(took.Microseconds()) / 1000,
	}}, false)
	at.waiters = nil
	a.finish(outcome{})
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
	go watchHealth(a, ctx, m.in)
}

// retire lets the member's connections drain, then stops it. Its backend
// is already retired by the Switch or Refuse that replaced it.
func (a *app) retire(m *member) {
	m.stopHealth()
	m.in.setState(InstDraining)
	a.retired[m.in] = m.backend
	a.wg.Add(1)
	go drainAndStop(a, m.in, m.backend)
}

// discard stops an instance that is not serving; it stays listed until it
// has exited.
func (a *app) discard(in *instance, b *l4proxy.Backend, graceful bool) {
	select {
	case <-in.exited:
		return
	default:
	}
	in.setState(InstStopping)
	a.retired[in] = b
	a.wg.Add(1)
	go stopInstance(a, in, graceful)
}

// onExit handles the exit of any instance of the app. Connections still
// open to it are wound down (l4proxy.Backend.Gone): nothing can answer them
// now, and a client that reads nothing must not keep their slots.
func (a *app) onExit(in *instance) {
	if b, ok := a.retired[in]; ok {
		delete(a.retired, in)
		b.Gone() // nil for a discarded instance that never had one
		return
	}
	if a.serving != nil && a.serving.in == in {
		b := a.serving.backend
		a.crashed() // retires b first: no new client is sent to it
		b.Gone()
		return
	}
	if at := a.attempt; at != nil && at.in == in {
		// Exited before it was adopted. watchReady reports this too, but its
		// report may come second, or say "ready" for a probe that passed just
		// before the exit: the exit decides.
		at.cancel()
		a.tryFailed(in, fmt.Errorf("pid %d on port %d: %w (%v)", in.pid, in.port, errExitedEarly, in.exitError()))
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
	if up >= a.timing.stableAfter {
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
	a.armRetry(a.timing.backoff(a.failures))
}

// onUnhealthy replaces a serving instance that failed its health checks
// through the reload path: it serves until the new one is ready.
func (a *app) onUnhealthy(in *instance, err error) {
	if a.serving == nil || a.serving.in != in || !a.want {
		return
	}
	a.lastErr = fmt.Sprintf("pid %d: %v", in.pid, err)
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
