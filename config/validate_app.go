package config

import (
	"strings"
	"time"
)

// app checks one app's own values; checks across apps are in addresses.go.
func (v *validator) app(a *rawApp) {
	v.name(a)
	v.command(a)
	for _, e := range a.Environment.Items {
		if i := strings.IndexByte(e.V, '='); i <= 0 {
			v.probs.add(e.pos, "want KEY=VALUE, got %q", short(e.V))
		}
	}
	if h := a.Healthcheck; h.Set && h.V != "" && (!strings.HasPrefix(h.V, "/") || strings.ContainsFunc(h.V, isSpaceOrControl)) {
		v.probs.add(h.pos, "want an HTTP path such as \"/health\", got %q", short(h.V))
	}
	v.nonEmpty(a.InternalHost)
	v.port(a.ExternalPort)
	if s := a.StopSignal; s.Set {
		if _, ok := parseSignal(s.V); !ok {
			v.probs.add(s.pos, "unknown signal %q; want one of TERM, INT, QUIT, HUP, USR1, USR2, KILL", short(s.V))
		}
	}
	v.atLeast(a.MaxRetries, 0, "")
	v.atLeast(a.HealthcheckFailures, 1, "")
	v.atLeast(a.MaxConnections, 0, " (0 = no limit)")
	v.limits(a)
	for _, t := range []val[time.Duration]{a.HealthcheckInterval, a.HealthcheckTimeout, a.ConnectTimeout} {
		if t.Set && t.V == 0 {
			v.probs.add(t.pos, "must be more than 0")
		}
	}
	v.user(a.User.Username)
	v.logger(&a.Logger)
	v.templates(a.Templates)
	v.proxyProtocol(a)
	v.instances(a)
}

// limits checks memory_max, memory_reload, pids_max, cpu_max and nofile.
func (v *validator) limits(a *rawApp) {
	v.atLeast(a.MemoryMax, 0, " (megabytes; 0 = no limit)")
	v.atLeast(a.MemoryReload, 0, " (megabytes; 0 = off)")
	v.atLeast(a.PidsMax, 0, " (0 = no limit)")
	v.atLeast(a.Nofile, 0, " (0 = the daemon's own limit)")
	if c := a.CPUMax; c.Set && (c.V < 0 || c.V > 0 && c.V < 0.01) {
		v.probs.add(c.pos, "must be 0 (no limit) or at least 0.01 cores, got %g", c.V)
	}
	if r, m := a.MemoryReload, a.MemoryMax; r.Set && m.Set && r.V > 0 && m.V > 0 && r.V >= m.V {
		v.probs.add(r.pos, "must be below memory_max (%d MB), or the instance is OOM-killed before it is reloaded; got %d", m.V, r.V)
	}
}

// maxNameLen is the longest app name, in bytes (names are ASCII). A name
// ends up in log file names (app_NAME.out), API paths, status tables and
// log lines; 64 is plenty for a name and keeps all of those sane.
const maxNameLen = 64

func (v *validator) name(a *rawApp) {
	n := a.Name
	switch {
	case !n.Set && !n.Bad:
		v.probs.add(a.pos.child("name"), "missing; every app needs a name")
	case !n.Set:
	case n.V == "":
		v.probs.add(n.pos, "must not be empty")
	case !validName(n.V):
		v.probs.add(n.pos, "%q may only hold letters, digits, '_', '.' and '-'", short(n.V))
	case n.V == "." || n.V == "..":
		v.probs.add(n.pos, "%q is not a usable name", n.V)
	case len(n.V) > maxNameLen:
		v.probs.add(n.pos, "%q is %d characters long; the limit is %d", short(n.V), len(n.V), maxNameLen)
	}
}

func (v *validator) command(a *rawApp) {
	c := a.Command
	switch {
	case !c.Set && !c.Bad:
		v.probs.add(a.pos.child("command"), "missing; every app needs a command")
	case !c.Set:
	case strings.TrimSpace(c.V) == "":
		v.probs.add(c.pos, "must not be empty")
	case !hasPortPlaceholder(a):
		v.probs.add(c.pos, "{port} appears in neither command nor environment; "+
			"the app must listen on the internal port gracevisord gives it")
	default:
		// Split now, as procs will at every start, so a bad command fails the config check.
		if _, err := SplitCommand(strings.ReplaceAll(c.V, "{port}", "1")); err != nil {
			v.probs.add(c.pos, "%v", err)
		}
	}
}

func hasPortPlaceholder(a *rawApp) bool {
	if strings.Contains(a.Command.V, "{port}") {
		return true
	}
	for _, e := range a.Environment.Items {
		if strings.Contains(e.V, "{port}") {
			return true
		}
	}
	return false
}

// validName reports whether name is [A-Za-z0-9_.-]+.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		ok := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '.' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }
