package procs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gracevisor/gracevisor/l4proxy"
)

// This file is the rollback window (rollback_window): after a reload the
// instance that served before stands by, taking no new connections, for
// the new instance's rollback_window. If the new instance exits or fails
// its health checks meanwhile, or an operator asks (Rollback), new
// connections go back to it at once and the new one is stopped. When the
// window closes it drains and stops like any retired instance. Every
// method runs on appLoop, except Supervisor.Rollback.

// ErrNothingToRollBack is wrapped by Rollback when the app has no instance
// standing by: no rollback window is open.
var ErrNothingToRollBack = errors.New("nothing to roll back to")

// Rollback switches the app's new connections back to the instance that
// served before its last reload, while that reload's rollback window is
// open, and stops the instance it replaced (it drains first, as in a
// reload). It returns the instance that serves again; it fails, wrapping
// ErrNothingToRollBack, when no window is open.
func (s *Supervisor) Rollback(ctx context.Context, name string) (ReloadResult, error) {
	a, err := s.await(ctx, name)
	if err != nil {
		return ReloadResult{}, err
	}
	reply := make(chan outcome, 1)
	o, err := a.request(ctx, rollbackReq{reply}, reply)
	return o.res, firstErr(name, err, o.err)
}

// mayStandBy reports whether prev, replaced by m through the attempt at,
// stands by rather than retires: only after a reload asked for (not the
// replacement of an unhealthy instance, nor a memory_reload, whose
// predecessors are no place to go back to) on the same front (an address
// change retires the old listener), with a rollback window, and with one
// instance (config requires instances: 1 for a window; a scale-up ends it).
func (a *app) mayStandBy(at *attempt, prev, m *member) bool {
	return at.reload && !at.memory && !prev.unhealthy && at.front == nil && m.in.cfg.RollbackWindow > 0 && !a.terminating() &&
		len(a.serving) == 1 && m.in.cfg.Instances <= 1
}

// standBy keeps prev running without new connections for window (its
// backend is retired already: the Switch to the new instance did it). An
// instance standing by from an earlier reload retires now: only the last
// one is a place to go back to.
func (a *app) standBy(prev *member, window time.Duration) {
	a.endWindow()
	prev.stopHealth()
	prev.in.state = InstDraining
	a.retired[prev.in] = true
	a.standby = prev
	a.window.arm(window)
	a.logger.Info("rollback window open", "pid", prev.in.pid, "window", window)
}

// endWindow closes the rollback window, if one is open: the instance
// standing by drains and stops as in a reload without one.
func (a *app) endWindow() {
	sb := a.standby
	if sb == nil {
		return
	}
	a.standby = nil
	a.window.stop()
	a.retire(sb)
}

// rollBack switches new connections back to the instance standing by and
// returns the member it replaced, for the caller to stop. The instance
// standing by gets a new Backend (its old one was retired by the Switch
// away from it, and a retired Backend is never dialed again); its old
// ones keep counting the connections they have, so its drain and its
// status count those too.
func (a *app) rollBack(why string) (failed *member) {
	sb := a.standby
	a.standby = nil
	a.window.stop()
	in := sb.in
	delete(a.retired, in)
	in.older = append(in.older, in.backend)
	in.backend = l4proxy.NewBackend(in.backend.Addr())
	in.state = InstServing
	a.front.setLimits(&in.cfg)
	failed = a.serving[in.slot]
	failed.stopHealth()
	sb.unhealthy = false
	a.serving[in.slot] = sb
	a.route() // retires the failed instance's backend
	a.watchHealth(sb)

	a.lastReload, a.lastErr = ReloadRolledBack, why
	a.counters.rolledBack++
	a.logger.Warn("rolled back to the instance before the last reload", "pid", in.pid, "from_pid", failed.in.pid, "why", why)
	a.emit(Event{Kind: EventRolledBack, PID: in.pid, Port: in.port, Error: why})
	return failed
}

// rollBackOnExit rolls back from the serving member m, whose instance
// exited within the rollback window; the caller marks it exited.
func (a *app) rollBackOnExit(m *member) {
	in := m.in
	up := time.Since(m.servingSince)
	why := fmt.Sprintf("pid %d exited after serving %s: %v", in.pid, up.Round(time.Millisecond), in.exitError())
	a.counters.crashes++
	a.emit(Event{Kind: EventCrash, PID: in.pid, Port: in.port, Error: why, DurationMS: ms(up)})
	a.rollBack(why)
}

// doRollback rolls back by hand, while a rollback window is open.
func (a *app) doRollback(reply chan<- outcome) {
	if a.standby == nil || a.serving[a.standby.in.slot] == nil {
		a.send(reply, outcome{err: fmt.Errorf("rollback %s: %w (no rollback window is open)", a.name, ErrNothingToRollBack)})
		return
	}
	slot := a.standby.in.slot
	failed := a.rollBack(fmt.Sprintf("rolled back by hand from pid %d", a.serving[slot].in.pid))
	a.retire(failed)
	in := a.serving[slot].in
	a.send(reply, outcome{res: ReloadResult{App: a.name, PID: in.pid, Port: in.port}})
}

// backends are the instance's backends that count connections: those
// retired earlier and its current one (none before it was ready).
func backends(in *instance) []*l4proxy.Backend {
	if in.backend == nil {
		return in.older
	}
	return append(in.older[:len(in.older):len(in.older)], in.backend)
}

// conns is the open connections of bs.
func conns(bs []*l4proxy.Backend) int64 {
	var n int64
	for _, b := range bs {
		n += b.Conns()
	}
	return n
}

// gone winds down the links of an exited instance (l4proxy.Backend.Gone).
func gone(in *instance) {
	for _, b := range backends(in) {
		b.Gone()
	}
}
