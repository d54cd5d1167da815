package procs

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/l4proxy"
)

// This file is the attempt side of the app loop: bringing up new
// instances, retrying, giving up. Every method runs on appLoop.

// An attempt brings up new instances in some of the app's slots: the first
// start, a restart after a crash, a reload, a scale-up (reload: instances
// serve throughout, and giving up leaves them serving). Between tries of a
// slot, the slot has no starter and the retry timer runs.
type attempt struct {
	reload bool
	memory bool // a reload for memory_reload (see onMemoryHigh)
	// rolling: one slot at a time, each adopted once ready
	// (reload_strategy: rolling); otherwise a reload adopts all its slots
	// at once, and any other attempt each slot as soon as it is ready.
	rolling  bool
	tries    int // failed tries of a reload
	begun    time.Time
	waiters  []waiter
	slots    []int            // the slots it has still to fill, in order
	starting map[int]*starter // started and not adopted yet, by slot
	front    *front           // a new front for a changed address or proxy options
	// replaced: a rolling reload's slots adopted so far, with the config
	// their old instance had, to go back to if a later slot fails.
	replaced map[int]config.App
	// revert is the error of the rolling reload this attempt undoes: it
	// starts each replaced slot again with its old config (configs).
	revert  error
	configs map[int]config.App
	// replacedUnhealthy: an instance it replaced had failed its health
	// checks (its reload is not reported as one asked for).
	replacedUnhealthy bool
}

// A starter is an instance of an attempt, starting or ready.
type starter struct {
	in     *instance
	cancel context.CancelFunc // ends the readiness wait
	ready  bool
}

// newAttempt is an attempt to fill slots for waiters.
func newAttempt(reload bool, slots []int, waiters []waiter) *attempt {
	return &attempt{
		reload: reload, begun: time.Now(), waiters: waiters,
		slots: slots, starting: map[int]*starter{}, replaced: map[int]config.App{},
	}
}

// busy reports whether any instance of the attempt is starting or ready.
func (at *attempt) busy() bool { return len(at.starting) > 0 }

// covers reports whether the attempt will fill slot.
func (at *attempt) covers(slot int) bool { return slices.Contains(at.slots, slot) }

// of is in's starter, or nil if in is not the attempt's.
func (at *attempt) of(in *instance) *starter {
	if st := at.starting[in.slot]; st != nil && st.in == in {
		return st
	}
	return nil
}

// together reports whether the attempt's slots are adopted at once: a
// reload that is not rolling switches the whole set in one step.
func (at *attempt) together() bool { return at.reload && !at.rolling }

// add makes the attempt fill slot as well (a crash or failed health check
// of an instance it would not replace); it starts now unless the attempt
// waits to retry.
func (a *app) add(slot int) {
	at := a.attempt
	if at.covers(slot) {
		return
	}
	at.slots = append(at.slots, slot)
	if a.retry.t == nil {
		a.launch()
	}
}

// launch starts one try of every slot of the current attempt that has no
// instance, with the current config (a rolling attempt: the next slot,
// once none is starting). A changed address gets a new front, bound here
// but not served until the new instances are adopted: until then clients
// keep using the current front and instances (new clients of the new
// address wait in its accept queue).
func (a *app) launch() {
	at := a.attempt
	if at == nil {
		return
	}
	cfg := a.cfg
	if at.front == nil && at.revert == nil && cfg.ExternalAddr() != a.front.key.addr {
		f, err := openFront(&cfg, a.logger, a.d.listen, false)
		if err != nil {
			a.giveUp(err) // a bind error does not go away by retrying
			return
		}
		at.front = f
	}
	for _, slot := range slices.Clone(at.slots) {
		if at.starting[slot] != nil {
			continue
		}
		if at.rolling && at.busy() {
			return
		}
		if !a.startSlot(at, slot) {
			return // the retry timer runs, or the attempt gave up
		}
	}
}

// startSlot starts the attempt's instance in slot and its helpers; false
// if it could not be started (tryFailed has handled it).
func (a *app) startSlot(at *attempt, slot int) bool {
	cfg := a.cfg
	if c, ok := at.configs[slot]; ok {
		cfg = c
	}
	in, err := startInstance(a.d, a.d.ports, &cfg, slot)
	if err != nil {
		a.tryFailed(nil, err)
		return false
	}
	a.logger.Info("instance started", "pid", in.pid, "port", in.port, "slot", slot)
	if !at.reload && a.troubled {
		a.counters.restarts++
		a.emit(Event{Kind: EventRestart, PID: in.pid, Port: in.port, Failures: a.failures})
	}
	ctx, cancel := context.WithCancel(a.abort)
	at.starting[slot] = &starter{in: in, cancel: cancel}
	a.wg.Add(2)
	go watchExit(a, in)
	go watchReady(a, ctx, in, a.d.sys.prober(&cfg, in.port))
	return true
}

// onReady handles the readiness result of a starting instance. reached is
// the address the passing probe connected to: new connections dial that IP
// literal instead of resolving internal_host each time.
func (a *app) onReady(in *instance, reached string, err error) {
	at := a.attempt
	if at == nil || at.of(in) == nil {
		return // dismissed, or its exit was handled first; it is being stopped
	}
	if err == nil && in.hasExited() { // exited after its probe passed: never adopt a dead instance
		err = fmt.Errorf("%w (%s)", errExitedEarly, in.exitCause())
	}
	st := at.of(in)
	st.cancel()
	if err != nil {
		a.tryFailed(in, fmt.Errorf("pid %d on port %d: %w", in.pid, in.port, err))
		return
	}
	if reached == "" {
		reached = net.JoinHostPort(in.cfg.InternalHost, strconv.Itoa(in.port))
	}
	in.backend = l4proxy.NewBackend(reached) // its only one: every front that serves it uses it
	st.ready = true
	a.adoptReady(at)
}

// adoptReady adopts what of the attempt is ready to serve: every slot
// once all are ready (together), else each ready slot; the attempt is
// complete when no slot is left, and a rolling one starts its next slot.
func (a *app) adoptReady(at *attempt) {
	var slots []int
	for _, slot := range at.slots {
		st := at.starting[slot]
		switch {
		case st != nil && st.ready:
			slots = append(slots, slot)
		case at.together():
			return
		}
	}
	if len(slots) == 0 {
		return
	}
	a.adopt(at, slots)
	if len(at.slots) == 0 {
		a.complete(at)
		return
	}
	a.launch()
}

// tryFailed counts a failed try and either schedules the next one or gives
// up: a reload after max_retries failed tries (the old instances serve on),
// a start after max_retries consecutive failures (FATAL).
func (a *app) tryFailed(in *instance, err error) {
	at := a.attempt
	if in != nil {
		delete(at.starting, in.slot)
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

// begin starts a new attempt for waiters that fills every slot the app
// wants (0…instances-1).
func (a *app) begin(reload bool, waiters []waiter) {
	a.beginSlots(reload, waiters, a.wantedSlots())
}

// beginSlots starts a new attempt for waiters that fills slots. A reload
// of several slots is rolling when reload_strategy says so, unless it
// moves to a new front (a changed address or proxy setting applies to
// every instance at once).
func (a *app) beginSlots(reload bool, waiters []waiter, slots []int) {
	at := newAttempt(reload, slots, waiters)
	at.rolling = reload && len(slots) > 1 && a.cfg.ReloadStrategy == config.ReloadRolling &&
		keyOf(&a.cfg).same(a.front.key)
	a.attempt = at
	a.launch()
}

// instances is how many instances the app's config asks for (a config
// built by hand, as in tests, may leave it 0: one).
func (a *app) instances() int { return max(a.cfg.Instances, 1) }

// wantedSlots are the slots the app's config asks for: 0…instances-1.
func (a *app) wantedSlots() []int {
	slots := make([]int, a.instances())
	for i := range slots {
		slots[i] = i
	}
	return slots
}
