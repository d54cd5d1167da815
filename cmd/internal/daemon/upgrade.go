package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/cmd/internal/upgrade"
	"github.com/gracevisor/gracevisor/config"
)

// This file is the daemon's side of upgrading itself (see
// cmd/internal/upgrade): the state /healthz reports, the upgrade a request
// or SIGUSR2 starts, and the hand-over once the successor serves.

// Margins of the upgrade's bounds (documented in docs/operations.md).
const (
	// upgradeMargin is added to the longest start_timeout: the successor's
	// own start-up (config, listeners, API) before its apps.
	upgradeMargin = 30 * time.Second
	// foreverBound replaces a 0 (wait for ever) timeout in those bounds.
	foreverBound = 10 * time.Minute
)

// UpgradeTimeout is how long a successor started by an upgrade may take to
// serve before it is killed: cfg's longest start_timeout plus a margin.
func UpgradeTimeout(cfg *config.Config) time.Duration {
	return longest(cfg, func(a *config.App) time.Duration { return a.StartTimeout }) + upgradeMargin
}

// drainBound is how long a successor waits for its own predecessor to
// finish draining before it upgrades again: drain_timeout + stop_timeout.
func drainBound(cfg *config.Config) time.Duration {
	return longest(cfg, func(a *config.App) time.Duration { return a.DrainTimeout }) +
		longest(cfg, func(a *config.App) time.Duration { return a.StopTimeout }) + upgradeMargin
}

// longest is the largest of f over cfg's apps, a 0 (no limit) counting as
// foreverBound.
func longest(cfg *config.Config, f func(*config.App) time.Duration) time.Duration {
	var d time.Duration
	for i := range cfg.Apps {
		v := f(&cfg.Apps[i])
		if v <= 0 {
			v = foreverBound
		}
		d = max(d, v)
	}
	return d
}

// daemonState is what /healthz and /api/v1/version report. Its zero
// value is serving; safe for concurrent use.
type daemonState struct {
	mu sync.Mutex // guards v
	v  api.DaemonState
}

func (s *daemonState) get() api.DaemonState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.v == "" {
		return api.DaemonServing
	}
	return s.v
}

func (s *daemonState) set(v api.DaemonState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.v = v
}

// swap moves from old to next, reporting whether the state was old.
func (s *daemonState) swap(old, next api.DaemonState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.v != old && !(s.v == "" && old == api.DaemonServing) {
		return false
	}
	s.v = next
	return true
}

// inherit gets the API's and the apps' listeners through the upgrader, so
// that they are handed to a successor (and taken from a predecessor).
func inherit(up *upgrade.Upgrader) func(network, addr string, bind func() (net.Listener, error)) (net.Listener, error) {
	return func(network, addr string, bind func() (net.Listener, error)) (net.Listener, error) {
		return up.Listen(network, addr, func(string, string) (net.Listener, error) { return bind() })
	}
}

// upgrade replaces this daemon with the gracevisord binary at its own path
// (API and SIGUSR2). It returns once the successor serves, or with why it
// could not: this daemon then goes on serving as before. onEvent gets each
// step, from one goroutine at a time.
func (r *runner) upgrade(onEvent func(api.UpgradeEvent)) (api.UpgradeResult, error) {
	res := api.UpgradeResult{OldPID: os.Getpid(), OldVersion: r.version}
	if r.up == nil {
		return res, errors.New("this gracevisord cannot upgrade itself")
	}
	if !r.state.swap(api.DaemonServing, api.DaemonUpgrading) {
		if r.state.get() == api.DaemonUpgrading {
			return res, upgrade.ErrInProgress
		}
		return res, fmt.Errorf("gracevisord is %s", r.state.get())
	}
	begun := time.Now()
	resume := r.pauseLogRotation() // both daemons append to the log for a while
	step := func(s upgrade.Step) {
		if s.Kind == upgrade.StepStarted {
			res.NewPID, res.NewVersion = s.PID, s.Version
		}
		if s.Kind != upgrade.StepFailed { // the error ends the stream, once
			onEvent(api.UpgradeEvent{Step: s.Kind, PID: s.PID, App: s.App, Version: s.Version, Detail: s.Detail})
		}
	}
	err := r.up.Upgrade(step)
	if errors.Is(err, upgrade.ErrPreviousDraining) {
		err = r.waitForPrevious(onEvent)
		if err == nil {
			err = r.up.Upgrade(step)
		}
	}
	if err != nil {
		resume()
		r.state.swap(api.DaemonUpgrading, api.DaemonServing)
		return res, err
	}
	res.DurationMS = float64(time.Since(begun).Microseconds()) / 1000
	r.state.set(api.DaemonDraining)
	r.log.Info("upgraded: the new daemon serves; this one stops accepting and drains",
		"new_pid", res.NewPID, "new_version", res.NewVersion, "took", time.Since(begun).Round(time.Millisecond))
	onEvent(api.UpgradeEvent{Step: api.StepHandover, PID: res.NewPID})
	onEvent(api.UpgradeEvent{Step: api.StepDraining, PID: res.OldPID, Connections: r.sup.OpenConnections()})
	return res, nil
}

// waitForPrevious waits until the daemon this one replaced has exited: one
// generation drains at a time.
func (r *runner) waitForPrevious(onEvent func(api.UpgradeEvent)) error {
	bound := drainBound(r.d.config())
	onEvent(api.UpgradeEvent{Step: api.StepWaiting,
		Detail: fmt.Sprintf("the previous daemon is still draining; waiting up to %s for it to exit", bound)})
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if err := r.up.WaitForParent(ctx); err != nil && ctx.Err() != nil {
		return fmt.Errorf("the previous daemon did not exit within %s", bound)
	}
	return nil
}

// upgradeOnSignal is SIGUSR2: an upgrade whose steps go to the log.
func (r *runner) upgradeOnSignal() {
	defer r.upgrades.Done()
	r.log.Info("upgrade requested (SIGUSR2)")
	res, err := r.upgrade(func(ev api.UpgradeEvent) {
		r.log.Info("upgrade step", "step", ev.Step, "pid", ev.PID, "app", ev.App, "detail", ev.Detail)
	})
	if err != nil {
		r.log.Error("upgrade failed; this daemon goes on serving", "err", err)
		return
	}
	r.log.Info("upgrade done", "old_pid", res.OldPID, "new_pid", res.NewPID, "new_version", res.NewVersion)
}

// pauseLogRotation stops this daemon rotating its log until the returned
// function is called (nil-safe when main gave no control).
func (r *runner) pauseLogRotation() (resume func()) {
	if r.logRotation == nil {
		return func() {}
	}
	r.logRotation.Pause()
	return r.logRotation.Resume
}
