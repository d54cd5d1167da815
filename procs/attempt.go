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
// instance, retrying, giving up. Every method runs on appLoop.

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
		f, err := openFront(&cfg, a.logger, a.d.listen, false)
		if err != nil {
			a.giveUp(err) // a bind error does not go away by retrying
			return
		}
		at.front = f
	}
	in, err := startInstance(a.d, a.d.ports, &cfg)
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
	a.wg.Add(2)
	go watchExit(a, in)
	go watchReady(a, ctx, in, a.d.sys.prober(&cfg, in.port))
}

// onReady handles the readiness result of a starting instance. reached is
// the address the passing probe connected to: new connections dial that IP
// literal instead of resolving internal_host each time.
func (a *app) onReady(in *instance, reached string, err error) {
	at := a.attempt
	if at == nil || at.in != in {
		return // dismissed, or its exit was handled first; it is being stopped
	}
	if err == nil && in.hasExited() { // exited after its probe passed: never adopt a dead instance
		err = fmt.Errorf("%w (%s)", errExitedEarly, in.exitCause())
	}
	at.cancel()
	if err != nil {
		a.tryFailed(in, fmt.Errorf("pid %d on port %d: %w", in.pid, in.port, err))
		return
	}
	if reached == "" {
		reached = net.JoinHostPort(in.cfg.InternalHost, strconv.Itoa(in.port))
	}
	in.backend = l4proxy.NewBackend(reached) // its only one: every front that serves it uses it
	a.adopt(at)
}

// tryFailed counts a failed try and either schedules the next one or gives
// up: a reload after max_retries failed tries (the old instance serves on),
// a start after max_retries consecutive failures (FATAL).
func (a *app) tryFailed(in *instance, err error) {
	at := a.attempt
	if in != nil {
		at.in, at.cancel = nil, nil
		a.discard(in, false)
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
	a.retry.arm(a.d.timing.backoff(n))
}

// giveUp ends the attempt with err: a failed reload leaves the old instance
// serving; otherwise the app is FATAL and its listener refuses clients.
func (a *app) giveUp(err error) {
	at := a.attempt
	if at.reload {
		err = fmt.Errorf("reload %s: %w; the old instance (pid %d) still serves", a.name, err, a.serving.in.pid)
		a.counters.reloadsFailed++
		a.lastReload = ReloadFailed
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
	a.retry.stop()
	if at.front != nil { // never served (adopt takes a served one): nobody accepted there
		_ = at.front.ln.Close()
	}
	a.answer(at, o, false)
	if m := a.serving; m != nil && m.unhealthy { // its replacement failed: keep checking it
		m.unhealthy = false
		a.watchHealth(m)
	}
	if queued := a.queued; len(queued) > 0 && a.want && !a.terminating() {
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

// retryTimer is the wait before an attempt's next try; the zero value
// waits for nothing.
type retryTimer struct{ t *time.Timer }

func (r *retryTimer) arm(d time.Duration) {
	r.stop()
	r.t = time.NewTimer(d)
}

func (r *retryTimer) stop() {
	if r.t != nil {
		r.t.Stop()
	}
	r.t = nil
}

// c is the timer's channel, nil (never ready) when none is armed.
func (r *retryTimer) c() <-chan time.Time {
	if r.t == nil {
		return nil
	}
	return r.t.C
}
