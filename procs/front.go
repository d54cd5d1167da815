package procs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sync"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/l4proxy"
)

// frontCloseGrace bounds how long a retired front waits for its last
// connections once its instance is gone (they end with the instance).
const frontCloseGrace = 5 * time.Second

// A front is an app's external side: its listener and the proxy serving it.
// The proxy is made first and binds the listener itself (see openFront).
// A changed address gets a new front; a changed connect_timeout,
// max_connections, client_write_timeout or PROXY protocol setting is set
// on the running proxy (l4proxy.Proxy.SetLimits) when the instance that
// comes with it is adopted: an app that starts to expect the PROXY header
// gets it from its first connection on.
// The app's loop owns its fronts and their keys; the proxy itself is safe
// for concurrent use.
type front struct {
	key    frontKey     // as of the last config applied
	ln     net.Listener // owned here: closing it ends Serve without touching open connections
	proxy  *l4proxy.Proxy
	served chan struct{} // closed when Serve has returned
	gate   chan struct{} // a gated front's (see TakeOver): closed by accept; nil if none
	closed chan struct{} // closed by closeListener
	once   sync.Once
}

// frontKey is what a front is built from.
type frontKey struct {
	addr   string
	limits l4proxy.Limits
}

func keyOf(cfg *config.App) frontKey {
	return frontKey{addr: cfg.ExternalAddr(), limits: limitsOf(cfg)}
}

// same reports whether k and o build the same front.
func (k frontKey) same(o frontKey) bool {
	return k.addr == o.addr && reflect.DeepEqual(k.limits, o.limits)
}

// limitsOf translates cfg's proxy limits; the config's 0 (no limit) is the
// proxy's -1.
func limitsOf(cfg *config.App) l4proxy.Limits {
	l := l4proxy.Limits{
		ConnectTimeout:     cfg.ConnectTimeout,
		MaxConnections:     cfg.MaxConnections,
		ClientWriteTimeout: cfg.ClientWriteTimeout,

		ProxyProtocol:       l4proxy.ProxyProtocol(cfg.Proxy.Send),
		AcceptProxyProtocol: cfg.Proxy.Accept,
		TrustedProxies:      cfg.Proxy.Trusted,
		ProxyHeaderTimeout:  cfg.Proxy.HeaderTimeout,
	}
	if l.ClientWriteTimeout == 0 {
		l.ClientWriteTimeout = -1
	}
	return l
}

// setLimits applies cfg's connect_timeout, max_connections,
// client_write_timeout and PROXY protocol settings to the running proxy;
// the address must be the front's.
func (f *front) setLimits(cfg *config.App) {
	if k := keyOf(cfg); !k.same(f.key) {
		f.proxy.SetLimits(k.limits)
		f.key = k
	}
}

// openFront makes a front for cfg and binds its address with the front's
// own proxy (l4proxy's listener carries the proxy's client keepalive on the
// listening socket, which accepted connections inherit). It is not serving
// yet; its proxy has no backend, so early clients wait up to connect_timeout.
func openFront(cfg *config.App, logger *slog.Logger, listen ListenFunc, gated bool) (*front, error) {
	f := &front{
		key:    keyOf(cfg),
		proxy:  &l4proxy.Proxy{Logger: logger.With("app", cfg.Name)},
		served: make(chan struct{}),
		closed: make(chan struct{}),
	}
	f.proxy.SetLimits(f.key.limits)
	bind := func() (net.Listener, error) { return f.proxy.Listen(context.Background(), cfg.ExternalAddr()) }
	var ln net.Listener
	var err error
	if listen != nil {
		ln, err = listen(cfg.ExternalAddr(), bind)
		if err == nil {
			// A wrapper (the upgrader's) or a socket inherited from the
			// previous daemon: the proxy still accepts from it directly.
			ln = l4proxy.Adopt(ln)
		}
	} else {
		ln, err = bind()
	}
	if gated {
		f.gate = make(chan struct{})
	}
	if err != nil {
		return nil, fmt.Errorf("listen %s on %s: %w", cfg.Name, cfg.ExternalAddr(), err)
	}
	f.ln = ln
	return f, nil
}

// addr is the bound address (the real port when the config said 0).
func (f *front) addr() string { return f.ln.Addr().String() }

// serveFront runs the proxy on the front's listener until the listener is
// closed or the proxy shut down. A gated front starts accepting once its
// gate opens: a daemon taking over leaves every client to its predecessor
// until the app serves here.
func serveFront(f *front, logger *slog.Logger, wg *sync.WaitGroup) {
	defer wg.Done()
	defer close(f.served)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-f.closed:
			return
		}
	}
	err := f.proxy.Serve(f.ln)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		logger.Error("proxy stopped accepting", "addr", f.addr(), "err", err)
	}
}

// closeFront stops accepting at once, then, after until closes (the
// front's last instance has exited) or ctx ends, shuts the proxy down and
// waits for Serve to return.
func closeFront(ctx context.Context, f *front, until <-chan struct{}, wg *sync.WaitGroup) {
	if wg != nil {
		defer wg.Done()
	}
	f.closeListener()
	select {
	case <-until:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(ctx, frontCloseGrace)
	defer cancel()
	_ = f.proxy.Shutdown(sctx)
	<-f.served
}

// closeListener stops the front accepting: its listener is closed (Serve
// returns), and a gated front that never opened will not start.
func (f *front) closeListener() {
	f.once.Do(func() { close(f.closed) })
	_ = f.ln.Close()
}

// accept lets a gated front's listener accept (the app serves now); for
// any other front it does nothing. Runs on appLoop.
func (f *front) accept() {
	if f.gate == nil {
		return
	}
	select {
	case <-f.gate:
	default:
		close(f.gate)
	}
}
