package procs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// This file is how an attempt ends: complete, given up, or dismissed, and
// what comes after it (queued reloads, refilling empty slots). Every
// method runs on appLoop.

// complete ends an attempt whose every slot serves: it counts and reports
// the reload or recovery and answers its waiters with the app's instances.
// An attempt that undid a failed rolling reload answers with that
// reload's error.
func (a *app) complete(at *attempt) {
	took := time.Since(at.begun)
	first := a.first()
	a.countAdoption(at, first, took)
	o := outcome{res: ReloadResult{
		App: a.name, PID: first.in.pid, Port: first.in.port, DurationMS: ms(took), Instances: a.instanceRefs(),
	}}
	if at.revert != nil {
		a.logger.Warn("the old config serves again in every slot the failed rolling reload had replaced")
		o = outcome{err: at.revert}
	}
	a.answer(at, o, false)
	a.finish(outcome{})
}

// giveUp ends the attempt with err: a failed reload leaves the old
// instances serving (a rolling one first goes back to the old config in
// the slots it replaced, see revertRolling); a failed restart of some
// slots leaves the others serving; otherwise the app is FATAL and its
// listener refuses clients.
func (a *app) giveUp(err error) {
	at := a.attempt
	a.dismiss(at, false)
	switch {
	case at.revert != nil:
		err = fmt.Errorf("%w; going back to the old config failed too: %v", at.revert, err)
	case at.reload:
		err = fmt.Errorf("reload %s: %w; %s", a.name, err, a.stillServing(at))
		a.counters.reloadsFailed++
		a.lastReload = ReloadFailed
		first := a.first()
		a.emit(Event{Kind: EventReloadFailed, PID: first.in.pid, Port: first.in.port, Error: err.Error()})
		if len(at.replaced) > 0 {
			a.lastErr = err.Error()
			a.revertRolling(at, err)
			return
		}
	case len(a.serving) > 0:
		err = fmt.Errorf("start %s in slots %v: %w; the other instances serve on", a.name, at.slots, err)
		a.logger.Error("giving up on an instance; the app serves with fewer until reloaded or scaled", "err", err)
		a.troubled = true // a reload or scale that fills the slots again reports "recovered"
		a.emit(Event{Kind: EventDegraded, Error: err.Error(), Failures: a.failures})
	default:
		err = fmt.Errorf("start %s: %w; app is FATAL", a.name, err)
		a.front.proxy.Refuse()
		a.logger.Error("app is FATAL: it gets no new instance until started again", "err", err)
		a.troubled = true
		a.emit(Event{Kind: EventFatal, Error: err.Error(), Failures: a.failures})
	}
	a.lastErr = err.Error()
	a.finish(outcome{err: err})
}

// stillServing says which old instances serve on after a failed reload.
func (a *app) stillServing(at *attempt) string {
	ms := a.members()
	if len(at.replaced) > 0 {
		return fmt.Sprintf("going back to the old config in the slots already replaced (%v)", slices.Sorted(maps.Keys(at.replaced)))
	}
	if len(ms) == 1 {
		return fmt.Sprintf("the old instance (pid %d) still serves", ms[0].in.pid)
	}
	pids := make([]string, len(ms))
	for i, m := range ms {
		pids[i] = fmt.Sprint(m.in.pid)
	}
	return fmt.Sprintf("the old instances (pids %s) still serve", strings.Join(pids, ", "))
}

// dismiss stops the attempt's instances that are starting or ready but
// not adopted: gracefully when the app is stopped, else with SIGKILL.
func (a *app) dismiss(at *attempt, graceful bool) {
	for _, slot := range slices.Sorted(maps.Keys(at.starting)) {
		st := at.starting[slot]
		st.cancel()
		a.discard(st.in, graceful)
	}
	clear(at.starting)
}

// finish ends the attempt, answers its waiters, and begins the reload that
// callers queued meanwhile; after a failed reload, slots whose instance
// crashed meanwhile are filled again.
func (a *app) finish(o outcome) {
	at := a.attempt
	a.attempt = nil
	a.retry.stop()
	a.dismiss(at, false) // none left when it completed or gave up
	if at.front != nil { // never served (adopt takes a served one): nobody accepted there
		at.front.closeListener()
	}
	a.answer(at, o, false)
	for _, m := range a.members() { // their replacement failed: keep checking them
		if m.unhealthy {
			m.unhealthy = false
			a.watchHealth(m)
		}
	}
	if !a.want || a.terminating() {
		return
	}
	if queued := a.queued; len(queued) > 0 {
		a.queued = nil
		if len(a.serving) == 0 { // a start for callers that came while an older one ran
			a.failures = 0
			a.front.proxy.Switch(nil)
		}
		a.begin(len(a.serving) > 0, queued)
		return
	}
	if missing := a.emptySlots(); o.err != nil && at.reload && len(missing) > 0 && len(a.serving) > 0 {
		a.beginSlots(false, nil, missing)
	}
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
