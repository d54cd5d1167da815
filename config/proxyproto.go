package config

import (
	"net/netip"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// This file is the PROXY protocol keys of an app: proxy_protocol and
// healthcheck_proxy_protocol (towards the app), accept_proxy_protocol,
// trusted_proxies and proxy_header_timeout (from a balancer in front).

const defaultProxyHeaderTimeout = 5 * time.Second

// rawProxyProtocol is an app's PROXY protocol keys as written.
type rawProxyProtocol struct {
	ProxyProtocol            val[string]
	HealthcheckProxyProtocol val[bool]
	AcceptProxyProtocol      val[bool]
	TrustedProxies           list[string]
	ProxyHeaderTimeout       val[time.Duration]
}

// ProxyProtocol is an app's resolved PROXY protocol settings.
type ProxyProtocol struct {
	// Send is the header version written to the app on every connection:
	// 0 = none, 1 or 2.
	Send int
	// Healthcheck: readiness and health probes send the header too.
	Healthcheck bool
	// Accept: clients must come from Trusted and start with a header.
	Accept  bool
	Trusted []netip.Prefix
	// HeaderTimeout bounds the wait for a client's header; default 5s.
	HeaderTimeout time.Duration
}

func (d *decoder) bool(dst *val[bool]) decodeFn {
	return func(v *yaml.Node, at pos) {
		s, ok, bad := d.scalar(v, at, "true or false")
		*dst = val[bool]{pos: at, Set: ok, Bad: bad}
		if !ok {
			return
		}
		if s.ShortTag() != "!!bool" || s.Decode(&dst.V) != nil {
			d.probs.add(at, "want true or false, got %s", describe(s))
			dst.Set, dst.Bad = false, true
		}
	}
}

// proxyVersions maps proxy_protocol's values to header versions.
var proxyVersions = map[string]int{"": 0, "off": 0, "v1": 1, "v2": 2}

func resolveProxyProtocol(r *rawProxyProtocol) ProxyProtocol {
	pp := ProxyProtocol{
		Send:          proxyVersions[strings.ToLower(r.ProxyProtocol.V)],
		Healthcheck:   r.HealthcheckProxyProtocol.V,
		Accept:        r.AcceptProxyProtocol.V,
		HeaderTimeout: r.ProxyHeaderTimeout.or(defaultProxyHeaderTimeout),
	}
	for _, s := range r.TrustedProxies.values() {
		if p, ok := parseTrusted(s); ok {
			pp.Trusted = append(pp.Trusted, p)
		}
	}
	return pp
}

// parseTrusted reads a CIDR ("10.0.0.0/8") or a single address ("10.0.0.5"
// is 10.0.0.5/32).
func parseTrusted(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

func (v *validator) proxyProtocol(a *rawApp) {
	r := &a.Proxy
	if pv := r.ProxyProtocol; pv.Set {
		if _, ok := proxyVersions[strings.ToLower(pv.V)]; !ok {
			v.probs.add(pv.pos, "want v1 or v2 (or off), got %q", short(pv.V))
		}
	}
	if h := r.HealthcheckProxyProtocol; h.V && proxyVersions[strings.ToLower(r.ProxyProtocol.V)] == 0 {
		v.probs.add(h.pos, "has no effect without proxy_protocol: v1 or v2")
	}
	for _, it := range r.TrustedProxies.Items {
		if _, ok := parseTrusted(it.V); !ok {
			v.probs.add(it.pos, "want an address range such as \"10.0.0.0/8\" or an address, got %q", short(it.V))
		}
	}
	accept := r.AcceptProxyProtocol.V
	switch {
	case accept && len(r.TrustedProxies.Items) == 0:
		v.probs.add(r.AcceptProxyProtocol.pos, "needs trusted_proxies: the addresses of the balancers whose PROXY headers are believed")
	case !accept && r.TrustedProxies.Set:
		v.probs.add(r.TrustedProxies.pos, "has no effect without accept_proxy_protocol: true")
	}
	if t := r.ProxyHeaderTimeout; t.Set && t.V == 0 {
		v.probs.add(t.pos, "must be more than 0")
	}
}
