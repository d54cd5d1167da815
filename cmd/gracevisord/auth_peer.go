package main

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"golang.org/x/sys/unix"
)

// peer is who is on the other end of a control API connection.
type peer struct {
	unix bool   // connected through rpc.socket
	who  string // "uid=1000 pid=4242" on the socket; the remote address on TCP
}

type peerKey struct{}

// peerContext is the API server's ConnContext: it records who connected,
// once per connection. On the unix socket the kernel tells us the peer's
// uid and pid (SO_PEERCRED); they cannot be forged by the client.
func peerContext(ctx context.Context, c net.Conn) context.Context {
	p := peer{who: c.RemoteAddr().String()}
	if uc, ok := c.(*net.UnixConn); ok {
		p = peer{unix: true, who: unixPeer(uc)}
	}
	return context.WithValue(ctx, peerKey{}, p)
}

// unixPeer describes the process at the other end of a unix connection.
func unixPeer(c *net.UnixConn) string {
	raw, err := c.SyscallConn()
	if err != nil {
		return "unix:unknown"
	}
	var (
		cred    *unix.Ucred
		credErr error
	)
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || credErr != nil {
		return "unix:unknown"
	}
	return fmt.Sprintf("uid=%d pid=%d", cred.Uid, cred.Pid)
}

// peerOf returns who made the request. A request that did not come through
// the server (tests with httptest.NewRequest) is a TCP peer.
func peerOf(r *http.Request) peer {
	if p, ok := r.Context().Value(peerKey{}).(peer); ok {
		return p
	}
	return peer{who: r.RemoteAddr}
}
