package apiserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
)

// peer is who is on the other end of a control API connection.
type peer struct {
	unix bool   // connected through rpc.socket
	who  string // "uid=1000 pid=4242" on the socket; the remote address on TCP
	// source is who, for rate limits: "uid=1000" on the socket, the remote
	// IP address on TCP (a client has many ports, but one address).
	source string
}

type peerKey struct{}

// peerContext is the API server's ConnContext: it records who connected,
// once per connection. On the unix socket the kernel tells us the peer's
// uid and pid (SO_PEERCRED); they cannot be forged by the client.
func peerContext(ctx context.Context, c net.Conn) context.Context {
	if w, ok := c.(interface{ NetConn() net.Conn }); ok { // our limitConn (and tls.Conn)
		c = w.NetConn()
	}
	p := tcpPeer(c.RemoteAddr().String())
	if uc, ok := c.(*net.UnixConn); ok {
		p = unixPeer(uc)
	}
	return context.WithValue(ctx, peerKey{}, p)
}

func tcpPeer(remote string) peer {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	return peer{who: remote, source: host}
}

// unixPeer describes the process at the other end of a unix connection,
// as the kernel tells it (peerCred; see auth_peer_*.go).
func unixPeer(c *net.UnixConn) peer {
	unknown := peer{unix: true, who: "unix:unknown", source: "unix:unknown"}
	raw, err := c.SyscallConn()
	if err != nil {
		return unknown
	}
	var (
		uid, pid int
		credErr  error
	)
	if err := raw.Control(func(fd uintptr) { uid, pid, credErr = peerCred(int(fd)) }); err != nil || credErr != nil {
		return unknown
	}
	who := fmt.Sprintf("uid=%d", uid)
	if pid > 0 {
		who += fmt.Sprintf(" pid=%d", pid)
	}
	return peer{unix: true, who: who, source: fmt.Sprintf("uid=%d", uid)}
}

// peerOf returns who made the request. A request that did not come through
// the server (tests with httptest.NewRequest) is a TCP peer.
func peerOf(r *http.Request) peer {
	if p, ok := r.Context().Value(peerKey{}).(peer); ok {
		return p
	}
	return tcpPeer(r.RemoteAddr)
}
