package procs

import (
	"context"
	"errors"
	"net"
	"time"
)

// This file is what a daemon needs to take over from another one, and to
// hand over to its successor (see cmd/internal/upgrade): listeners that are
// inherited rather than bound, apps that accept only once they serve, a
// start that fails when an app does, and a drain of everything at the end.

// ListenFunc makes (or inherits) the external listener for addr. listen
// binds a new one the way procs would (with the proxy's keepalive).
type ListenFunc func(addr string, listen func() (net.Listener, error)) (net.Listener, error)

// TakeOver configures the Supervisor of a daemon that takes over from a
// running one: external listeners come from listen (inherited where the
// address is unchanged); an app's listener accepts only once the app
// serves, so until then every client goes on reaching the previous daemon;
// and Start fails if any app's first instance fails. Call it before Start.
func (s *Supervisor) TakeOver(listen ListenFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d.listen = listen
	s.d.acceptWhenReady = true
	s.strict = true
}

// SetListen makes every external listener come from listen (so it can be
// handed to a successor). Call it before Start.
func (s *Supervisor) SetListen(listen ListenFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d.listen = listen
}

// Handover ends the supervisor after a successor took over its listeners:
// every app stops accepting at once (its listener is closed here; the
// socket lives on in the successor), the connections it has finish
// (drain_timeout), and its instances are stopped (stop_signal,
// stop_timeout, SIGKILL of the group). Clients this daemon accepted just
// before are still served. Handover returns when every app has ended; if
// ctx ends first, what is left is killed at once, as in Shutdown.
func (s *Supervisor) Handover(ctx context.Context) error {
	return s.end(ctx, handoverReq{})
}

// OpenConnections is the number of client connections open on every app.
func (s *Supervisor) OpenConnections() int64 {
	var n int64
	ms, _ := s.Metrics() // of every app: no name to be unknown
	for _, m := range ms {
		n += m.Traffic.Active
	}
	return n
}

// errFirstStart wraps the failures Start reports when TakeOver was set.
var errFirstStart = errors.New("first start failed")

// handoverReq: stop accepting, drain, stop, end the loop (doHandover).
type handoverReq struct{}

// drained: the app's front has shut down after its connections finished
// (or drain_timeout passed).
type drained struct{}

func (handoverReq) isMessage() {}
func (drained) isMessage()     {}

// doHandover closes the listener at once and drains the front in a helper:
// the proxy keeps routing clients it already accepted to the serving
// instance (no Refuse, which would close them), and shuts down once its
// connections are done. Then the app terminates (drained).
func (a *app) doHandover() {
	a.leaving = true
	a.front.closeListener()
	a.wg.Add(1)
	go drainFront(a, a.front, a.cfg.DrainTimeout)
}

// drainFront shuts f's proxy down, waiting up to timeout (0: for ever) or
// until the app is aborted, and reports it.
func drainFront(a *app, f *front, timeout time.Duration) {
	defer a.wg.Done()
	ctx, cancel := context.WithCancel(a.abort)
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(a.abort, timeout)
	}
	defer cancel()
	_ = f.proxy.Shutdown(ctx)
	a.post(drained{})
}
