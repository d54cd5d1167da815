package config

import (
	"reflect"
	"sort"
)

// Diff compares the apps of two configurations by name. added are in new
// only, removed in old only, changed in both with any resolved field
// different (where an app is defined, Source, and its Alerts, which the
// daemon reads per event, do not count). Each list is
// sorted. A nil config has no apps, so Diff(nil, c) lists all of c as added.
func Diff(old, new *Config) (added, removed, changed []string) {
	before, after := appsByName(old), appsByName(new)
	for name, a := range after {
		b, ok := before[name]
		switch {
		case !ok:
			added = append(added, name)
		case !sameApp(a, b):
			changed = append(changed, name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			removed = append(removed, name)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	sort.Strings(changed)
	return added, removed, changed
}

func appsByName(c *Config) map[string]App {
	m := map[string]App{}
	if c != nil {
		for _, a := range c.Apps {
			m[a.Name] = a
		}
	}
	return m
}

func sameApp(a, b App) bool {
	a.Source, b.Source = "", ""
	a.Alerts, b.Alerts = Alerts{}, Alerts{} // the daemon reads them per event; no reload needed
	if len(a.Environment) == 0 && len(b.Environment) == 0 {
		a.Environment, b.Environment = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// SameButInstances reports whether a and b differ at most in their
// instance count (and in what sameApp ignores): such a change is applied
// by scaling, without a reload.
func SameButInstances(a, b App) bool {
	a.Instances = b.Instances
	return sameApp(a, b)
}
