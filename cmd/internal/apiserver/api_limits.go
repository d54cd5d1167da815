package apiserver

import (
	"errors"
	"fmt"
	"github.com/gracevisor/gracevisor/cmd/internal/reply"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/gracevisor/gracevisor/l4proxy"
)

// What one client can hold of the control API, and so of the daemon:
// connections (each an fd the proxies may need), time (a request that
// trickles in) and bytes (a huge request line). The rule for connections:
// each API listener (TCP, rpc.socket) serves at most rpc.max_connections
// at once, and never more than 1/apiFDShare of the open-file limit, so the
// API can never take the descriptors the proxies need. Connections beyond
// the cap wait in the kernel's accept backlog until one closes; the
// timeouts below make sure idle and slow ones do close.

const (
	defaultAPIMaxConns = 256
	// apiFDShare: one API listener holds at most 1/apiFDShare of RLIMIT_NOFILE.
	apiFDShare = 16
	// minAPIConns is the cap under a tiny open-file limit.
	minAPIConns = 4

	defaultReadHeaderTimeout = 10 * time.Second
	// defaultReadTimeout bounds reading a whole request, body included.
	// net/http lifts it once the request is read, so log follows and
	// blocking operations (reload, shutdown) are not cut. There is no
	// WriteTimeout: it would cut them.
	defaultReadTimeout = 30 * time.Second
	defaultIdleTimeout = time.Minute

	// maxRequestURI: longer request URIs get 414 before anything else.
	maxRequestURI = 8 << 10
	// maxHeaderBytes bounds the request line and headers; Go answers 431
	// beyond it, before any handler runs.
	maxHeaderBytes = 64 << 10
)

// Limits are the control API server's timeouts. Zero fields take the
// defaults above; tests shorten them.
type Limits struct {
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	idleTimeout       time.Duration
}

func (l Limits) headerTimeout() time.Duration {
	return orDefault(l.readHeaderTimeout, defaultReadHeaderTimeout)
}
func (l Limits) wholeTimeout() time.Duration { return orDefault(l.readTimeout, defaultReadTimeout) }
func (l Limits) idle() time.Duration         { return orDefault(l.idleTimeout, defaultIdleTimeout) }

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// NewServer is the control API's HTTP server for handler h.
func NewServer(h http.Handler, log *slog.Logger, lim Limits) *http.Server {
	return &http.Server{
		Handler:           h,
		ConnContext:       peerContext, // who is calling, for the guard and the audit log
		ReadHeaderTimeout: lim.headerTimeout(),
		ReadTimeout:       lim.wholeTimeout(),
		IdleTimeout:       lim.idle(),
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// limitURI answers 414 to a request whose URI is over maxRequestURI before
// the guard, a handler or a log line has to look at it.
func limitURI(next http.Handler, refusals *RefusalLog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := len(r.RequestURI); n > maxRequestURI {
			setSecurityHeaders(w.Header())
			msg := fmt.Sprintf("request URI too long: %d bytes, the limit is %d", n, maxRequestURI)
			refusals.refuse(r, http.StatusRequestURITooLong, reasonURITooLong, msg)
			reply.Error(w, http.StatusRequestURITooLong, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ConnCap is the per-listener connection cap: the configured one, but
// at most 1/apiFDShare of the open-file limit nofile (and at least
// minAPIConns).
func ConnCap(configured int, nofile uint64) int {
	reserve := max(nofile/apiFDShare, minAPIConns)
	return int(min(uint64(orDefault(configured, defaultAPIMaxConns)), reserve))
}

// OpenFileLimit raises RLIMIT_NOFILE to its hard limit (every proxied
// connection costs several descriptors) and returns the limit in force.
func OpenFileLimit(log *slog.Logger) uint64 {
	n, err := l4proxy.RaiseFileLimit()
	if err == nil {
		log.Info("open-file limit", "nofile", n)
		return n
	}
	log.Warn("could not raise the open-file limit", "err", err)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024 // the usual soft limit
	}
	return uint64(lim.Cur) // int64 on some systems
}

// limitListener accepts at most n connections at once: Accept waits until
// one of them closes, and the connections beyond the cap wait in the
// kernel's backlog (what golang.org/x/net/netutil.LimitListener does; that
// module is not a dependency). Safe for concurrent use.
type limitListener struct {
	net.Listener
	slots     chan struct{} // one token per open connection
	closed    chan struct{}
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), closed: make(chan struct{})}
}

// Accept waits for a free slot, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: l.release}, nil
}

func (l *limitListener) release() { <-l.slots }

// Close closes the listener and ends an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// limitConn gives its slot back when closed, once.
type limitConn struct {
	net.Conn
	release func()
	once    sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite keeps the half-close the HTTP server uses to flush an error
// answer before closing (else the client may get a reset instead).
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// NetConn returns the wrapped connection (peerContext needs the
// *net.UnixConn for the peer's credentials).
func (c *limitConn) NetConn() net.Conn { return c.Conn }

// LimitListeners wraps each listener in a limitListener of n connections.
func LimitListeners(lns []net.Listener, n int) []net.Listener {
	out := make([]net.Listener, len(lns))
	for i, ln := range lns {
		out[i] = newLimitListener(ln, n)
	}
	return out
}

// Serve serves the control API on ln until the server is shut down; an
// error that ends it otherwise is sent on errc unless one is there already
// (one error ends the daemon).
func Serve(srv *http.Server, ln net.Listener, errc chan<- error) {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		select {
		case errc <- err:
		default:
		}
	}
}
