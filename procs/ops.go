package procs

import (
	"fmt"

	"github.com/gracevisor/gracevisor/config"
)

// The operations callers request from an app (see messages.go). Every
// method runs on appLoop.

// doStart makes the app run. A running app answers at once; a starting one
// (or one waiting to retry, which retries now) adds the caller to the
// attempt; a stopped or FATAL one begins afresh with its failure count reset.
func (a *app) doStart(w waiter) {
	switch {
	case a.terminating():
		a.send(w.reply, outcome{err: fmt.Errorf("start %s: %w", a.name, ErrStopped)})
	case len(a.serving) > 0:
		m := a.first()
		a.send(w.reply, outcome{res: ReloadResult{App: a.name, PID: m.in.pid, Port: m.in.port, Instances: a.instanceRefs()}})
	case a.attempt != nil:
		a.attempt.waiters = append(a.attempt.waiters, w)
		if a.retry.t != nil { // waiting to retry: retry now
			a.retry.stop()
			a.launch()
		}
	default:
		a.want, a.failures = true, 0
		// A stopped or FATAL app's listener refuses clients; from now on
		// they wait (connect_timeout) for the instance being started.
		a.front.proxy.Switch(nil)
		a.begin(false, []waiter{w})
	}
}

// doReload brings up new instances and retires the serving ones (see
// adoptReady for all-at-once and rolling). Reloads
// asked for while one is in flight wait for one fresh reload after it, so
// every caller gets an instance started after its request (and with the
// config of its time: an instance already starting may run an older one).
// An app with nothing serving and nothing starting is started; one waiting
// to retry retries now, with the current config.
func (a *app) doReload(w waiter) {
	switch {
	case a.terminating():
		a.doStart(w)
	case a.attempt != nil && (len(a.serving) > 0 || a.attempt.busy()):
		a.queued = append(a.queued, w)
	case len(a.serving) == 0:
		a.doStart(w)
	default:
		a.begin(true, []waiter{w})
	}
}

// doUpdate takes a changed config. A stopped app keeps it for its next
// start; a running one reloads with it, or scales when only the instance
// count changed and no attempt is in flight; a FATAL one starts with it.
func (a *app) doUpdate(cfg config.App, w waiter) {
	scale := config.SameButInstances(a.cfg, cfg) && len(a.serving) > 0 && a.attempt == nil
	a.cfg = cfg
	switch {
	case !a.want || a.terminating():
		a.send(w.reply, outcome{})
	case scale:
		a.doScale(cfg.Instances, w)
	default:
		a.doReload(w)
	}
}

// doStop stops the app: the listener refuses new clients at once, a
// starting instance is stopped, the serving one drains and is stopped.
// done (if not nil) is closed when no instance is left.
func (a *app) doStop(done chan struct{}) {
	a.want = false
	a.retry.stop()
	stopped := outcome{err: fmt.Errorf("%s: %w", a.name, ErrStopped)}
	if at := a.attempt; at != nil {
		a.dismiss(at, true)
		a.finish(stopped)
	}
	for _, w := range a.queued {
		a.send(w.reply, stopped)
	}
	a.queued = nil
	a.front.proxy.Refuse()
	a.endWindow()
	for _, m := range a.members() {
		delete(a.serving, m.in.slot)
		a.retire(m)
	}
	if done != nil {
		a.stopWaiters = append(a.stopWaiters, done)
	}
}

// doTerminate stops the app and ends its loop once no instance is left.
// Unlike doStop it does not wait for connections to drain: every instance
// gets stop_signal at once (see hurry).
func (a *app) doTerminate() {
	a.leaving = true
	select {
	case <-a.hurry:
	default:
		close(a.hurry)
	}
	a.front.closeListener() // stop accepting first
	a.doStop(nil)
}
