package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/pires/go-proxyproto"
)

// proxyHeaderTimeout is how long a client has to send its PROXY header
// (with --proxy-protocol) before its connection is closed.
const proxyHeaderTimeout = 5 * time.Second

// requireProxyHeader wraps ln so that every connection must start with a
// PROXY protocol header (v1 or v2), as behind gracevisor with
// proxy_protocol set; a connection's RemoteAddr is then the client the
// header names. A connection without a valid header is closed at its
// first read. The header is read in the connection's own goroutine.
func requireProxyHeader(ln net.Listener) net.Listener {
	return &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: proxyHeaderTimeout,
		ConnPolicy:        func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return proxyproto.REQUIRE, nil },
	}
}

// closeWrite half-closes c, a TCP connection or one with a PROXY header.
func closeWrite(c net.Conn) {
	if pc, ok := c.(*proxyproto.Conn); ok {
		c = pc.Raw()
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// accessLog wraps h to print one line per request on out:
// "demoapp pid=N access client=ADDR method=M path=P status=S".
func accessLog(h http.Handler, pid int, out io.Writer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		fmt.Fprintf(out, "demoapp pid=%d access client=%s method=%s path=%s status=%d\n",
			pid, r.RemoteAddr, r.Method, r.URL.Path, sw.status)
	})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
