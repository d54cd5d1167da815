package procs

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"time"
)

// This file is the serving side of the app loop: switching traffic to
// ready instances, retiring those before, health, crashes and exits.
// Every method runs on appLoop.

// adopt makes the attempt's ready instances in slots serve, retiring the
// ones that served in those slots before; the last step of a reload also
// retires the instances of slots the config no longer wants. New
// connections switch to the new set in one step (one SwitchSet).
func (a *app) adopt(at *attempt, slots []int) {
	var prevs, ms []*member
	for _, slot := range slots {
		m := &member{in: at.starting[slot].in, servingSince: time.Now(), stopHealth: func() {}}
		m.in.state = InstServing
		delete(at.starting, slot)
		if p := a.serving[slot]; p != nil {
			prevs = append(prevs, p)
		}
		a.serving[slot] = m
		ms = append(ms, m)
	}
	at.slots = slices.DeleteFunc(at.slots, func(s int) bool { return slices.Contains(slots, s) })
	if at.reload && len(at.slots) == 0 {
		prevs = append(prevs, a.shed(a.instances())...)
	}
	if at.front != nil { // the address changed: move to the new front
		a.moveFront(at, prevs)
	} else {
		a.front.setLimits(&ms[0].in.cfg) // connect_timeout, max_connections come with the instances
		a.route()
		a.front.accept() // a gated front (TakeOver) accepts from its first instance on
	}
	for _, p := range prevs {
		a.replace(at, p)
	}
	for _, m := range ms {
		a.adopted++
		a.filled = max(a.filled, m.in.slot+1)
		a.watchHealth(m)
		a.startMemoryWatch(m)
		a.logger.Info("instance serves", "pid", m.in.pid, "port", m.in.port, "took", time.Since(at.begun), "slot", m.in.slot)
	}
}

// replace retires prev, whose slot a new instance of at took over (or
// which the config no longer wants), or keeps it standing by for a
// rollback window.
func (a *app) replace(at *attempt, prev *member) {
	if time.Since(prev.servingSince) >= a.d.timing.stableAfter {
		a.failures = 0
	}
	if prev.unhealthy {
		at.replacedUnhealthy = true
	}
	if at.rolling && at.revert == nil {
		at.replaced[prev.in.slot] = prev.in.cfg
	}
	if next := a.serving[prev.in.slot]; next != nil && a.mayStandBy(at, prev, next) {
		a.standBy(prev, next.in.cfg.RollbackWindow)
		return
	}
	a.retire(prev)
}

// shed takes the members in slots n and above out of the serving set and
// returns them, for the caller to switch away from and retire.
func (a *app) shed(n int) []*member {
	var out []*member
	for _, m := range a.members() {
		if m.in.slot >= n {
			delete(a.serving, m.in.slot)
			out = append(out, m)
		}
	}
	return out
}

// moveFront makes the attempt's new front the app's, serving the set. The
// old front stops accepting; clients it accepted but has not routed yet go
// to the new set as well, through the same Backends, so their drain later
// waits for them too. The old front shuts down once the instances it
// served (prevs) have exited.
func (a *app) moveFront(at *attempt, prevs []*member) {
	bs := a.routes()
	at.front.proxy.SwitchSet(bs)
	a.traffic.open = append(a.traffic.open, at.front)
	a.wg.Add(1)
	go serveFront(at.front, a.logger, &a.wg)
	old := a.front
	a.front, at.front = at.front, nil
	old.closeListener()
	old.proxy.SwitchSet(bs)
	until := make([]*instance, len(prevs))
	for i, p := range prevs {
		until[i] = p.in
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
// is already retired by the SwitchSet or Refuse that left it out.
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
		"after", time.Since(in.startedAt).Round(time.Millisecond), "slot", in.slot)
	m := a.memberOf(in)
	switch {
	case a.retired[in]:
		delete(a.retired, in)
		in.state = InstExited
		gone(in)
		if a.standby != nil && a.standby.in == in { // nothing to roll back to any more
			a.standby = nil
			a.window.stop()
		}
	case m != nil && a.standby != nil:
		a.rollBackOnExit(m) // retires its backend first: no new client is sent to it
		in.state = InstExited
		gone(in)
	case m != nil:
		a.crashed(m) // retires its backend first: no new client is sent to it
		in.state = InstExited
		gone(in)
	case a.attempt != nil && a.attempt.of(in) != nil:
		// Exited before it was adopted. watchReady reports this too, but its
		// report may come second, or say "ready" for a probe that passed just
		// before the exit: the exit decides.
		a.attempt.of(in).cancel()
		a.tryFailed(in, fmt.Errorf("pid %d on port %d: %w (%s)", in.pid, in.port, errExitedEarly, in.exitCause()))
	}
}
