package config

import "strings"

// This file is an app's instance count and how a reload replaces them
// (instances, reload_strategy): their values, defaults and checks.

// MaxInstances is the most instances one app may run. Each takes a port
// from port_range and a process; more than this on one listener is a
// sign of a typo rather than a plan.
const MaxInstances = 64

// Reload strategies (reload_strategy).
const (
	// ReloadAllAtOnce starts N new instances, waits until every one is
	// ready, and switches new connections to all of them at once.
	ReloadAllAtOnce = "all-at-once"
	// ReloadRolling replaces one instance at a time: at most N+1
	// instances serve or start at once.
	ReloadRolling = "rolling"
)

const defaultInstances = 1

// instances checks instances and reload_strategy, and the features that
// only work with one instance.
func (v *validator) instances(a *rawApp) {
	if n := a.Instances; n.Set && (n.V < 1 || n.V > MaxInstances) {
		v.probs.add(n.pos, "must be from 1 to %d, got %d", MaxInstances, n.V)
	}
	if s := a.ReloadStrategy; s.Set && reloadStrategy(s.V) == "" {
		v.probs.add(s.pos, "want %s or %s, got %q", ReloadAllAtOnce, ReloadRolling, short(s.V))
	}
	// The rollback window keeps the one instance a reload replaced, to go
	// back to it; with several instances there is no single one.
	if w := a.RollbackWindow; w.Set && w.V > 0 && a.Instances.V > 1 {
		v.probs.add(w.pos, "needs instances: 1; with %d instances there is no single old instance to go back to", a.Instances.V)
	}
}

// reloadStrategy is s's canonical spelling, or "" if s is none.
func reloadStrategy(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case ReloadAllAtOnce:
		return ReloadAllAtOnce
	case ReloadRolling:
		return ReloadRolling
	}
	return ""
}

// resolveReloadStrategy is the strategy written, or the default.
func resolveReloadStrategy(s val[string]) string {
	if r := reloadStrategy(s.V); s.Set && r != "" {
		return r
	}
	return ReloadAllAtOnce
}
