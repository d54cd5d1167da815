package config

import (
	"errors"
	"os/user"
	"strings"
)

// validator checks a configuration, reporting every problem at the position
// of the value it is about. It reads the raw values for positions (and to
// tell a written value from a default) and the resolved ones for meaning.
type validator struct {
	probs *problems
	users map[string]error         // user lookups done so far, by name
	abs   func(path string) string // makes a written path absolute, as resolve does
}

func validate(c *Config, rc *rawConfig, apps []rawApp, ps *problems, abs func(string) string) {
	v := &validator{probs: ps, users: map[string]error{}, abs: abs}
	rangeOK := v.portRange(rc)
	v.rpc(rc)
	v.logger(&rc.Logger)
	v.user(rc.User.Username)
	for i := range apps {
		v.app(&apps[i])
	}
	v.uniqueNames(c, apps)
	v.monitoring(c, rc, apps)
	v.addresses(c, rc, apps, rangeOK)
}

// portRange checks port_range and says whether it is usable for the
// containment checks that follow.
func (v *validator) portRange(rc *rawConfig) bool {
	r := &rc.PortRange
	if !v.port(r.From) || !v.port(r.To) {
		return false
	}
	from, to := r.From.or(defaultPortFrom), r.To.or(defaultPortTo)
	at := rc.pos.child("port_range")
	if r.Set {
		at = r.pos
	}
	switch {
	case from == to:
		v.probs.add(at, "empty: from and to are both %d; the range is [from, to)", from)
	case from > to:
		v.probs.add(at, "inverted: from %d%s is above to %d%s", from, isDefault(r.From), to, isDefault(r.To))
	default:
		return true
	}
	return false
}

// port checks a TCP port and says whether it is usable (default or valid).
func (v *validator) port(p val[int]) bool {
	if p.Set && (p.V < 1 || p.V > 65535) {
		v.probs.add(p.pos, "port %d is out of range 1..65535", p.V)
		return false
	}
	return !p.Bad
}

func (v *validator) logger(l *rawLogger) {
	for _, path := range []val[string]{l.LogDir, l.LogFile, l.StdoutLogFile, l.StderrLogFile} {
		v.nonEmpty(path)
	}
	v.logDir(l.LogDir)
	v.atLeast(l.MaxLogSize, 1, " (megabytes)")
	v.limit(l.MaxLogsKept)
	v.limit(l.MaxLogAge)
}

// user checks that a username exists; "" means gracevisord's own user.
func (v *validator) user(name val[string]) {
	if !name.Set || name.V == "" {
		return
	}
	err, done := v.users[name.V]
	if !done {
		_, err = user.Lookup(name.V)
		v.users[name.V] = err
	}
	var unknown user.UnknownUserError
	switch {
	case errors.As(err, &unknown):
		v.probs.add(name.pos, "unknown user %q", name.V)
	case err != nil:
		v.probs.addErr(name.pos, err, "look up user %q: %v", name.V, err)
	}
}

func (v *validator) nonEmpty(s val[string]) {
	if s.Set && strings.TrimSpace(s.V) == "" {
		v.probs.add(s.pos, "must not be empty")
	}
}

func (v *validator) atLeast(n val[int], least int, unit string) {
	if n.Set && n.V < least {
		v.probs.add(n.pos, "must be at least %d%s, got %d", least, unit, n.V)
	}
}

// limit checks max_logs_kept / max_log_age: a count, or -1 / 0 for no limit.
func (v *validator) limit(n val[int]) {
	if n.Set && n.V < -1 {
		v.probs.add(n.pos, "want a positive number, or -1 or 0 for no limit, got %d", n.V)
	}
}

// isDefault marks a value in a message as the default when it was not written.
func isDefault[T any](x val[T]) string {
	if x.Set {
		return ""
	}
	return " (the default)"
}
