package main

import (
	"fmt"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/daemon"
	"github.com/gracevisor/gracevisor/cmd/internal/upgrade"
	"github.com/gracevisor/gracevisor/config"
)

// defaultUpgradeTimeout bounds a successor's start when the config could
// not be read (this daemon then exits at once anyway).
const defaultUpgradeTimeout = 90 * time.Second

// upgrader is main's handle on upgrades: nil-safe wrappers for the steps
// main itself reports.
type upgrader struct{ u *upgrade.Upgrader }

// newUpgrader sets up upgrades before anything listens. The successor's
// timeout comes from cfg (nil when it did not load).
func newUpgrader(cfg *config.Config, pidFile string) (upgrader, error) {
	timeout := defaultUpgradeTimeout
	if cfg != nil {
		timeout = daemon.UpgradeTimeout(cfg)
	}
	u, err := upgrade.New(timeout, pidFile)
	if err != nil {
		return upgrader{}, fmt.Errorf("%w (gracevisord cannot start without it: it would lose its listeners at the next upgrade)", err)
	}
	return upgrader{u}, nil
}

func (up upgrader) hasParent() bool { return up.u != nil && up.u.HasParent() }

// failed tells the daemon upgrading to this one why it cannot take over.
func (up upgrader) failed(err error) {
	if up.hasParent() {
		up.u.Failed(err)
	}
}
