package config

import (
	"net"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// This file is the statsd section: its type, schema, defaults and checks.

const (
	defaultStatsdPrefix   = "gracevisor"
	defaultStatsdInterval = 10 * time.Second
)

// Statsd is where gracevisord pushes its metrics over UDP. Address "" means
// statsd is off (the section is absent).
type Statsd struct {
	Address  string        // host:port of a statsd server
	Prefix   string        // metric name prefix; default "gracevisor"; "" = none
	Interval time.Duration // how often figures are pushed; default 10s
}

// Enabled reports whether metrics are pushed to statsd.
func (s Statsd) Enabled() bool { return s.Address != "" }

type rawStatsd struct {
	pos
	Set      bool // the section was written (and is not null)
	Address  val[string]
	Prefix   val[string]
	Interval val[time.Duration]
}

func (d *decoder) statsd(dst *rawStatsd) decodeFn {
	return func(v *yaml.Node, at pos) {
		n := deref(v)
		dst.pos, dst.Set = at, n != nil && n.Kind == yaml.MappingNode // anything else is reported
		d.mapping(v, at, fields{
			"address":  d.str(&dst.Address),
			"prefix":   d.str(&dst.Prefix),
			"interval": d.timeout(&dst.Interval),
		})
	}
}

func resolveStatsd(s *rawStatsd) Statsd {
	if !s.Set {
		return Statsd{}
	}
	return Statsd{
		Address:  s.Address.V,
		Prefix:   s.Prefix.or(defaultStatsdPrefix),
		Interval: s.Interval.or(defaultStatsdInterval),
	}
}

func (v *validator) statsd(s *rawStatsd) {
	if !s.Set {
		return
	}
	switch a := s.Address; {
	case !a.Set && !a.Bad:
		v.probs.add(s.child("address"), "missing; statsd needs the host:port of a statsd server")
	case a.Set:
		v.hostPort(a)
	}
	if p := s.Prefix; p.Set && p.V != "" && !validName(p.V) {
		v.probs.add(p.pos, "%q may only hold letters, digits, '_', '.' and '-'", short(p.V))
	}
	v.positive(s.Interval)
}

// hostPort checks a "host:port" address with a non-empty host.
func (v *validator) hostPort(a val[string]) {
	host, port, err := net.SplitHostPort(a.V)
	if err != nil || host == "" {
		v.probs.add(a.pos, "want host:port such as \"127.0.0.1:8125\", got %q", short(a.V))
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		v.probs.add(a.pos, "port %q is not a number in 1..65535", short(port))
	}
}

// positive checks a duration that must be more than 0 when written.
func (v *validator) positive(t val[time.Duration]) {
	if t.Set && t.V == 0 {
		v.probs.add(t.pos, "must be more than 0")
	}
}
