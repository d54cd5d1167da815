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
// of the app's state, and reports back with app.post.

// watchExit reports the instance's exit.
func watchExit(a *app, in *instance) {
	defer a.wg.Done()
	<-in.exited
	a.post(func() { a.onExit(in) })
}

// watchReady waits until the starting instance is ready and reports it.
func watchReady(a *app, ctx context.Context, in *instance) {
	defer a.wg.Done()
	p := newProber(in.cfg.InternalHost, in.port, in.cfg.Healthcheck, in.cfg.HealthcheckTimeout)
	reached, err := p.waitReady(ctx, in.exited, in.cfg.StartTimeout)
	if errors.Is(err, errExitedEarly) {
		err = fmt.Errorf("%w (%v)", err, in.exitError()) // exited is closed: exitErr is set
	}
	a.post(func() { a.onReady(in, reached, err) })
}

// watchHealth probes the serving instance every healthcheck_interval and
// reports once healthcheck_failures probes in a row have failed.
func watchHealth(a *app, ctx context.Context, in *instance) {
	defer a.wg.Done()
	p := newProber(in.cfg.InternalHost, in.port, in.cfg.Healthcheck, in.cfg.HealthcheckTimeout)
	tick := time.NewTicker(in.cfg.HealthcheckInterval)
	defer tick.Stop()
	failed := 0
	for {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		err := p.probe(ctx)
		if err == nil || ctx.Err() != nil {
			failed = 0
			continue
		}
		a.counters.healthFailures.Add(1)
		if failed++; failed >= max(in.cfg.HealthcheckFailures, 1) {
			err = fmt.Errorf("health check failed %d times in a row: %w", failed, err)
			a.post(func() { a.onUnhealthy(in, err) })
			return
		}
	}
}

// drainAndStop waits until the retired instance has no connection left
// (or drain_timeout passes, 0 = no limit, or the app is terminated), then
// stops it.
func drainAndStop(a *app, in *instance, b *l4proxy.Backend) {
	defer a.wg.Done()
	var timeout <-chan time.Time
	if d := in.cfg.DrainTimeout; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-b.Drained():
	case <-timeout:
		a.logger.Warn("drain_timeout passed; stopping the old instance with open connections",
			"pid", in.pid, "connections", b.Conns())
	case <-in.exited:
	case <-a.hurry:
	case <-a.abort.Done():
	}
	in.stop(a.abort, in.cfg.StopSignal, in.cfg.StopTimeout)
}

// stopInstance stops an instance that never served: with stop_signal when
// it is dismissed (stop during start), with SIGKILL when its start failed.
func stopInstance(a *app, in *instance, graceful bool) {
	defer a.wg.Done()
	if graceful {
		in.stop(a.abort, in.cfg.StopSignal, in.cfg.StopTimeout)
		return
	}
	in.signal(syscall.SIGKILL)
	<-in.exited
}
