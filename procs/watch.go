package procs

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/gracevisor/gracevisor/l4proxy"
)

// The helper goroutines of an app. Each is a named function, owns nothing
// of the app's state, and reports what it saw to the loop (app.post); the
// loop records it.

// watchExit reports the instance's exit.
func watchExit(a *app, in *instance) {
	defer a.wg.Done()
	<-in.exited
	a.post(exited{in})
}

// watchReady waits until the starting instance is ready and reports it.
func watchReady(a *app, ctx context.Context, in *instance, check probe) {
	defer a.wg.Done()
	reached, err := waitReady(ctx, check, in.exited, in.cfg.StartTimeout, a.d.timing.readyPoll)
	if errors.Is(err, errExitedEarly) {
		err = fmt.Errorf("%w (%s)", err, in.exitCause()) // exited is closed: exitErr is set
	}
	a.post(ready{in, reached, err})
}

// watchHealth probes the serving instance every healthcheck_interval and
// reports each failed probe, until healthcheck_failures failed in a row.
func watchHealth(a *app, ctx context.Context, in *instance, check probe) {
	defer a.wg.Done()
	tick := time.NewTicker(in.cfg.HealthcheckInterval)
	defer tick.Stop()
	failed := 0
	for {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		_, err := check(ctx)
		if err == nil || ctx.Err() != nil {
			failed = 0
			continue
		}
		failed++
		a.post(probeFailed{in, err, failed})
		if failed >= max(in.cfg.HealthcheckFailures, 1) {
			return
		}
	}
}

// drainAndStop waits until bs, the retired instance's backends, which
// count the links of every front that used them, have no connection left
// (none: the instance never served, there is nothing to wait for), or
// drain_timeout passes (0 = no limit), or the app is terminated; then it
// stops the instance with sig (stop_signal; SIGKILL for a failed start)
// and SIGKILL after stop_timeout.
//
// With early_stop_signal a retired instance gets stop_signal first, before
// the drain: an app with a graceful stop finishes what is in flight and
// closes its idle keep-alive connections itself, so its clients move to the
// new instance at a request boundary within milliseconds. (A dial that was
// already on its way and meets the closed listener is retried on the new
// instance by the proxy.) After the drain it then gets no second signal,
// only SIGKILL once stop_timeout has passed.
func drainAndStop(a *app, in *instance, bs []*l4proxy.Backend, sig syscall.Signal) {
	defer a.wg.Done()
	var timeout <-chan time.Time
	if d := in.cfg.DrainTimeout; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	early := in.cfg.EarlyStopSignal && sig == in.cfg.StopSignal
	if early {
		in.proc.signal(sig)
	}
	waitDrained(a, in, bs, timeout)
	a.post(stopping{in})
	if early {
		sig = 0 // sent already: some servers take a second one as "now"
	}
	in.stop(a.abort, sig, in.cfg.StopTimeout)
}

// waitDrained waits until every one of bs is drained (each gate is
// one-way, so one after the other), or timeout fires, the instance exits or
// the app is terminated. A complete drain is logged with the connections
// the instance served; a drain_timeout with the connections it cuts.
func waitDrained(a *app, in *instance, bs []*l4proxy.Backend, timeout <-chan time.Time) {
	for _, b := range bs {
		select {
		case <-b.Drained():
			continue
		case <-timeout:
			a.logger.Warn("drain_timeout passed; stopping the old instance with open connections",
				"pid", in.pid, "connections", conns(bs))
		case <-in.exited:
		case <-a.hurry:
		case <-a.abort.Done():
		}
		return
	}
	a.logger.Info("drain complete", "pid", in.pid, "connections_served", served(bs))
}

// served is the number of connections bs carried in all.
func served(bs []*l4proxy.Backend) int64 {
	var n int64
	for _, b := range bs {
		n += b.Served()
	}
	return n
}
