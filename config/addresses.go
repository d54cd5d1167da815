package config

import (
	"net"
	"strings"
)

// uniqueNames reports every app whose name an earlier app already has.
func (v *validator) uniqueNames(c *Config, apps []rawApp) {
	first := map[string]int{}
	for i, a := range c.Apps {
		if a.Name == "" {
			continue
		}
		if j, dup := first[a.Name]; dup {
			v.probs.add(apps[i].Name.pos, "duplicate app name %q (first defined at %s)", a.Name, c.Apps[j].Source)
			continue
		}
		first[a.Name] = i
	}
}

// addresses checks where things listen: the control API and each app's
// external address must stay out of port_range (the internal ports), and no
// two of them may share an address.
func (v *validator) addresses(c *Config, rc *rawConfig, apps []rawApp, rangeOK bool) {
	r := c.PortRange
	rpcPort := rc.RPC.Port
	rpcOK := !rpcPort.Bad && validPort(c.RPC.Port)
	if rangeOK && rpcOK && r.From <= c.RPC.Port && c.RPC.Port < r.To {
		v.probs.add(rpcPort.at(rc.pos.child("rpc"), "port"), "port %d%s is inside port_range [%d, %d), which is for the apps' internal ports",
			c.RPC.Port, isDefault(rpcPort), r.From, r.To)
	}
	for i := range c.Apps {
		a, ra := &c.Apps[i], &apps[i]
		if ra.ExternalPort.Bad || ra.ExternalHost.Bad || !validPort(a.ExternalPort) {
			continue
		}
		at := ra.ExternalPort.at(ra.pos, "external_port")
		dflt := isDefault(ra.ExternalPort)
		if rangeOK && r.From <= a.ExternalPort && a.ExternalPort < r.To {
			v.probs.add(at, "port %d%s is inside port_range [%d, %d), which is for the apps' internal ports",
				a.ExternalPort, dflt, r.From, r.To)
		}
		if rpcOK && sameAddr(c.RPC.Host, c.RPC.Port, a.ExternalHost, a.ExternalPort) {
			v.probs.add(at, "external address %s%s is the control API's address (rpc)", a.ExternalAddr(), dflt)
		}
		for j := range i {
			if b := &c.Apps[j]; validPort(b.ExternalPort) && sameAddr(b.ExternalHost, b.ExternalPort, a.ExternalHost, a.ExternalPort) {
				v.probs.add(at, "external address %s%s is already used by app %q (%s)", a.ExternalAddr(), dflt, b.Name, b.Source)
				break
			}
		}
	}
}

func validPort(p int) bool { return 1 <= p && p <= 65535 }

// sameAddr reports whether two listeners would collide: same port and the
// same host, or either of them on every interface.
func sameAddr(h1 string, p1 int, h2 string, p2 int) bool {
	if p1 != p2 {
		return false
	}
	k1, k2 := hostKey(h1), hostKey(h2)
	return k1 == k2 || k1 == "*" || k2 == "*"
}

// hostKey normalises a listen host without DNS: case, brackets, the
// wildcard spellings, and localhost as the IPv4 loopback Go binds it to.
func hostKey(h string) string {
	h = strings.ToLower(strings.Trim(strings.TrimSpace(h), "[]"))
	if ip := net.ParseIP(h); ip != nil {
		if ip.IsUnspecified() {
			return "*"
		}
		return ip.String()
	}
	switch h {
	case "":
		return "*"
	case "localhost":
		return "127.0.0.1"
	}
	return h
}
