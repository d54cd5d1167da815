package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The rpc section: where the control API listens (TCP, a unix socket, or
// both) and the token that guards it.

const (
	defaultSocketMode = 0o600
	// defaultRPCMaxConnections caps the control API's open connections per
	// listener; see rpc.max_connections in docs/configuration.md.
	defaultRPCMaxConnections = 256
)

// fileMode decodes a permission mode written the way chmod takes it: octal
// digits, with or without a leading 0 or 0o (0600, 600, "0o660").
func (d *decoder) fileMode(dst *val[uint32]) decodeFn {
	return func(v *yaml.Node, at pos) {
		s, ok, bad := d.scalar(v, at, "an octal mode such as 0600")
		*dst = val[uint32]{pos: at, Set: ok, Bad: bad}
		if !ok {
			return
		}
		digits := strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(s.Value), "0o"), "0")
		if digits == "" {
			digits = "0"
		}
		m, err := strconv.ParseUint(digits, 8, 32)
		if err != nil || m > 0o777 {
			d.probs.add(at, "want an octal mode from 0000 to 0777 such as 0600, got %s", describe(s))
			dst.Set, dst.Bad = false, true
			return
		}
		dst.V = uint32(m)
	}
}

func resolveRPC(abs func(string) string, r *rawRPC) RPC {
	out := RPC{
		Host:           normalizeHost(r.Host.or(defaultRPCHost)),
		Port:           r.Port.or(defaultRPCPort),
		SocketMode:     os.FileMode(r.SocketMode.or(defaultSocketMode)),
		SocketOwner:    r.SocketOwner.V,
		MaxConnections: r.MaxConnections.or(defaultRPCMaxConnections),
	}
	if strings.TrimSpace(r.Socket.V) != "" {
		out.Socket = abs(r.Socket.V)
	}
	if strings.TrimSpace(r.TokenFile.V) != "" {
		out.TokenFile = abs(r.TokenFile.V)
	}
	if strings.TrimSpace(r.TLS.CertFile.V) != "" && strings.TrimSpace(r.TLS.KeyFile.V) != "" {
		out.TLS = TLS{CertFile: abs(r.TLS.CertFile.V), KeyFile: abs(r.TLS.KeyFile.V)}
	}
	return out
}

// rpc checks the rpc section. Port 0 turns TCP off, which leaves the API
// reachable only when a socket is configured.
func (v *validator) rpc(rc *rawConfig) {
	r := &rc.RPC
	if r.Port.Set && r.Port.V == 0 {
		if strings.TrimSpace(r.Socket.V) == "" {
			v.probs.add(r.Port.pos, "port 0 turns the TCP listener off, which needs rpc.socket; otherwise nothing could reach the control API")
		}
	} else {
		v.port(r.Port)
	}
	v.rpcHost(r.Host)
	v.atLeast(r.MaxConnections, 1, "")
	v.nonEmpty(r.Socket)
	v.nonEmpty(r.TokenFile)
	v.socketOwner(r.SocketOwner)
	if r.SocketOwner.Set && strings.TrimSpace(r.Socket.V) == "" {
		v.probs.add(r.SocketOwner.pos, "socket_owner without rpc.socket has no effect")
	}
	if r.SocketMode.Set && strings.TrimSpace(r.Socket.V) == "" {
		v.probs.add(r.SocketMode.pos, "socket_mode without rpc.socket has no effect")
	}
	if r.TokenFile.Set && strings.TrimSpace(r.TokenFile.V) != "" {
		v.regularFile(r.TokenFile)
	}
	v.rpcTLS(r)
}

// rpcTLS checks rpc.tls: both files, each an existing regular file (read
// by gracevisord only: the key is usually not readable by gracevisorctl's
// user), and a TCP listener to use them on.
func (v *validator) rpcTLS(r *rawRPC) {
	t := &r.TLS
	if !t.Set {
		return
	}
	if r.Port.Set && r.Port.V == 0 {
		v.probs.add(t.pos, "tls without a TCP listener (rpc.port 0) has no effect: the unix socket needs none")
	}
	for _, f := range []struct {
		v   val[string]
		key string
	}{{t.CertFile, "cert_file"}, {t.KeyFile, "key_file"}} {
		switch {
		case !f.v.Set:
			v.probs.add(t.pos.child(f.key), "rpc.tls needs both cert_file and key_file")
		case strings.TrimSpace(f.v.V) == "":
			v.nonEmpty(f.v)
		default:
			v.regularFile(f.v)
		}
	}
}

// normalizeHost drops the brackets of an IPv6 address ("[::1]" → "::1"), so
// that both spellings give the same listen address once joined with the
// port: net.JoinHostPort adds the brackets itself.
func normalizeHost(h string) string {
	h = strings.TrimSpace(h)
	inner, ok := strings.CutPrefix(h, "[")
	if inner, ok2 := strings.CutSuffix(inner, "]"); ok && ok2 && strings.Contains(inner, ":") {
		return inner
	}
	return h
}

// rpcHost checks that rpc.host is something the daemon can listen on: a
// name, an IPv4 address or an IPv6 address with or without brackets, and
// no port. Caught here, such a host is reported with the other problems of
// the file instead of failing the daemon's listen.
func (v *validator) rpcHost(h val[string]) {
	if !h.Set || h.Bad {
		return
	}
	if msg := hostProblem(normalizeHost(h.V)); msg != "" {
		v.probs.add(h.pos, "%s, got %q", msg, h.V)
	}
}

// hostProblem says what is wrong with a listen host (IPv6 brackets already
// removed), or returns "". The empty host means every interface.
func hostProblem(h string) string {
	if _, port, err := net.SplitHostPort(h); err == nil && isDigits(port) {
		return "want a host without a port (the port is rpc.port)"
	}
	switch {
	case strings.ContainsAny(h, "[]"):
		return "brackets belong only around an IPv6 address, such as [::1]"
	case strings.ContainsAny(h, " \t\n/@?#"):
		return "want a host name or an IP address"
	case !strings.Contains(h, ":"):
		return ""
	}
	if ip, err := netip.ParseAddr(h); err == nil && ip.Is6() {
		return ""
	}
	return "want a host name or an IP address (IPv6 as ::1 or [::1])"
}

func isDigits(s string) bool {
	_, err := strconv.ParseUint(s, 10, 16)
	return err == nil
}

// socketOwner checks "user" or "user:group".
func (v *validator) socketOwner(owner val[string]) {
	if !owner.Set {
		return
	}
	name, group, hasGroup := strings.Cut(owner.V, ":")
	if name == "" && !hasGroup || hasGroup && group == "" {
		v.probs.add(owner.pos, "want user or user:group, got %q", owner.V)
		return
	}
	if name != "" {
		v.user(val[string]{pos: owner.pos, V: name, Set: true})
	}
	if hasGroup {
		var unknown user.UnknownGroupError
		if _, err := user.LookupGroup(group); errors.As(err, &unknown) {
			v.probs.add(owner.pos, "unknown group %q", group)
		} else if err != nil {
			v.probs.addErr(owner.pos, err, "look up group %q: %v", group, err)
		}
	}
}

// regularFile checks that a file (token, certificate, key) exists and is a
// regular file. Reading it is
// left to its users: a client may not be allowed to, and need not when it
// uses the unix socket.
func (v *validator) regularFile(f val[string]) {
	fi, err := os.Stat(f.V)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		v.probs.add(f.pos, "%s does not exist", f.V)
	case err != nil:
		v.probs.addErr(f.pos, err, "%v", err)
	case !fi.Mode().IsRegular():
		v.probs.add(f.pos, "%s is not a regular file", f.V)
	}
}

// SocketOwnerIDs resolves SocketOwner to a uid and gid; -1 leaves that one
// unchanged (as os.Chown takes it).
func (r RPC) SocketOwnerIDs() (uid, gid int, err error) {
	uid, gid = -1, -1
	if r.SocketOwner == "" {
		return uid, gid, nil
	}
	name, group, hasGroup := strings.Cut(r.SocketOwner, ":")
	if name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			return 0, 0, fmt.Errorf("socket_owner: %w", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
	}
	if hasGroup {
		g, err := user.LookupGroup(group)
		if err != nil {
			return 0, 0, fmt.Errorf("socket_owner: %w", err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	return uid, gid, nil
}
