package main

import (
	"fmt"
	"runtime/debug"
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

// buildIdentity is the build id: the one set by -ldflags, else the VCS
// revision Go recorded (with "-dirty" for a modified tree), else "unknown".
func buildIdentity() string {
	if buildID != "" {
		return buildID
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "unknown"
	}
	return rev[:min(12, len(rev))] + dirty
}
