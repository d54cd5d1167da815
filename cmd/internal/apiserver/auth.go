package apiserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/gracevisor/gracevisor/config"
)

// The control API's security model, decided once at start-up:
//
//   - a unix socket (rpc.socket) is guarded by its mode and owner: the kernel
//     decides who may connect, and SO_PEERCRED tells us who did, so its
//     requests need no token;
//   - on TCP, a configured token (rpc.token_file) is required on every
//     /api/ request as "Authorization: Bearer TOKEN";
//   - TCP on a non-loopback address without a token, or without TLS
//     (rpc.tls), is refused outright: gracevisord does not start, rather
//     than send the token and every reply across the network in plain text;
//   - with rpc.tls the TCP listener speaks TLS only (tls.go), loopback or not;
//   - on a loopback TCP bind the Host header must name a loopback host, so a
//     web page whose DNS name was rebound to 127.0.0.1 cannot talk to us;
//   - state-changing requests are POST with a JSON body (see mutating), which
//     a cross-site form or <img> cannot send, and every one is logged with
//     who made it.

// minTokenLen is the shortest token accepted: a token is a shared secret
// that can be guessed online, so it must be long and random.
const minTokenLen = 16

// resolveTimeout bounds the DNS lookup that decides whether rpc.host is a
// loopback name.
const resolveTimeout = 5 * time.Second

// ErrExposed is why gracevisord refuses to start with an open API.
var ErrExposed = errors.New("refusing to start")

// Security is the control API's access policy. Read-only after
// NewSecurity, so safe for concurrent use.
type Security struct {
	tokenHash [sha256.Size]byte // sha256 of the token; compared in constant time
	hasToken  bool
	// loopbackTCP: the TCP listener is on a loopback address, so the Host
	// header is checked (DNS rebinding).
	loopbackTCP bool
	// rpcHost is the configured host name, also accepted in Host headers.
	rpcHost string
	// tls serves the TCP listener over TLS (rpc.tls); nil: plain HTTP.
	tls *tls.Config
}

// NewSecurity reads the token and the TLS certificate and decides the
// policy for rpc. It refuses (ErrExposed) a TCP listener on a non-loopback
// address without a token or without TLS.
func NewSecurity(ctx context.Context, rpc config.RPC, log *slog.Logger) (*Security, error) {
	s := &Security{rpcHost: strings.ToLower(strings.Trim(rpc.Host, "[]"))}
	if rpc.TokenFile != "" {
		tok, err := readToken(rpc.TokenFile, log)
		if err != nil {
			return nil, err
		}
		s.tokenHash, s.hasToken = sha256.Sum256([]byte(tok)), true
	}
	if !rpc.TCP() {
		return s, nil
	}
	if rpc.TLS.On() {
		var err error
		if s.tls, err = serverTLS(rpc.TLS); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	s.loopbackTCP = isLoopbackHost(ctx, rpc.Host)
	switch {
	case !s.loopbackTCP && !s.hasToken:
		return nil, fmt.Errorf("%w: rpc.host %q is not a loopback address and rpc.token_file is not set, "+
			"so anyone who can reach %s could run, stop and read every app; set rpc.token_file, "+
			"or bind rpc.host to localhost, or use rpc.socket", ErrExposed, rpc.Host, rpc.Addr())
	case !s.loopbackTCP && s.tls == nil:
		return nil, fmt.Errorf("%w: rpc.host %q is not a loopback address and rpc.tls is not set, "+
			"so the token and every reply would cross the network in plain text; set rpc.tls "+
			"{cert_file, key_file}, or bind rpc.host to localhost, or use rpc.socket", ErrExposed, rpc.Host)
	}
	return s, nil
}

// readToken reads a token file (config.ReadToken) and checks that the
// token is long enough to be a secret. It warns when the file is readable
// by other users.
func readToken(path string, log *slog.Logger) (string, error) {
	tok, err := config.ReadToken(path)
	switch {
	case errors.Is(err, config.ErrEmptyToken):
		return "", fmt.Errorf("rpc.token_file %s is empty; put a random token in it, e.g. `openssl rand -hex 32 > %s`", path, path)
	case err != nil:
		return "", fmt.Errorf("rpc.token_file: %w", err)
	case len(tok) < minTokenLen:
		return "", fmt.Errorf("rpc.token_file %s: the token is %d characters, want at least %d random ones (e.g. `openssl rand -hex 32`)", path, len(tok), minTokenLen)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("rpc.token_file is readable by other users; chmod 600 it", "path", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
	return tok, nil
}

// tokenOK compares a presented token with ours in constant time: both are
// hashed first, so neither their contents nor their lengths leak by timing.
func (s *Security) tokenOK(presented string) bool {
	h := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) == 1
}

// isLoopbackHost reports whether host names only loopback addresses:
// localhost, a loopback IP, or a name that resolves to loopback addresses
// only. The empty host and wildcards (0.0.0.0, ::) are every interface.
func isLoopbackHost(ctx context.Context, host string) bool {
	host = strings.ToLower(strings.Trim(strings.TrimSpace(host), "[]"))
	if host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true // RFC 6761: always loopback, never sent to DNS
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(addrs) == 0 {
		return false
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return false
		}
	}
	return true
}

// hostHeaderOK reports whether a Host header names a loopback host (or the
// configured rpc.host): what a browser sends for a page it loaded from us,
// and never what it sends for an attacker's rebound DNS name.
func (s *Security) hostHeaderOK(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || host == s.rpcHost
}
