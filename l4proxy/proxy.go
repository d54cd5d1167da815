package l4proxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Option defaults, used when the matching Proxy field is zero.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultFinTimeout     = 30 * time.Second
	DefaultKeepAlive      = 15 * time.Second
	// DefaultClientWriteTimeout bounds a write to a client that reads nothing.
	DefaultClientWriteTimeout = 60 * time.Second
)

// Proxy serves one app's listener(s) and sends every accepted connection to
// its current Backend. The zero value is usable: it has no backend yet, so
// clients wait (up to ConnectTimeout) for the first Switch.
//
// Set the option fields before calling Serve and do not change them later;
// SetLimits changes ConnectTimeout and MaxConnections of a running Proxy.
// All methods are safe for concurrent use. A Proxy must not be copied after
// first use.
type Proxy struct {
	// DialTimeout bounds one dial attempt to the backend. 0 means 5 s.
	DialTimeout time.Duration
	// ConnectTimeout is how long a new client connection may wait for a
	// usable backend: while none is set, or while dials fail (they are
	// retried with a short backoff). 0 means 10 s.
	ConnectTimeout time.Duration
	// MaxConnections limits open client connections; excess connections
	// are closed at once. 0 means unlimited.
	MaxConnections int
	// FinTimeout bounds a half-closed connection (one direction has
	// finished) whose other direction moves no bytes, neither received
	// from its peer nor acknowledged by the other. It is checked once per
	// FinTimeout, so such a connection is closed (reset) once it has been
	// idle for FinTimeout to 2×FinTimeout. 0 means 30 s; <0 means no limit.
	FinTimeout time.Duration
	// ClientWriteTimeout aborts a connection whose client stops taking the
	// backend's bytes: a write to the client that makes no progress for
	// this long (its receive window stays full) closes both sides. A client
	// that reads slowly but steadily is never cut. 0 means 60 s; <0 means
	// no limit.
	ClientWriteTimeout time.Duration
	// KeepAlive is the TCP keepalive period (idle time and probe interval)
	// on both sides; 0 means 15 s, <0 turns it off. Client side: a
	// listener from Proxy.Listen carries it for free; on another listener
	// 0 leaves the listener's own setting (net.Listen's is 15 s) and other
	// values cost system calls per accept. Backend side: never set for a
	// loopback backend (127.0.0.0/8, ::1, localhost), where the kernel
	// reports a dead peer at once and probes would only cost system calls.
	KeepAlive time.Duration
	// ProxyProtocol, when set, makes every backend connection start with
	// a PROXY header of that version, carrying the client's address and
	// the address it connected to (see AcceptProxyProtocol), written with
	// the first bytes before the copy starts. Zero means none.
	ProxyProtocol ProxyProtocol
	// AcceptProxyProtocol makes every client prove where it comes from:
	// it must connect from an address in TrustedProxies (a balancer in
	// front) and start with a PROXY header, v1 or v2, within
	// ProxyHeaderTimeout; the header's addresses then stand for the
	// client everywhere (the header sent to the backend, log lines). Any
	// other client is closed before a backend is picked and counted in
	// Stats.ProxyHeaderRejected.
	AcceptProxyProtocol bool
	// TrustedProxies are the addresses whose PROXY headers are believed.
	// With AcceptProxyProtocol and none, every client is closed.
	TrustedProxies []netip.Prefix
	// ProxyHeaderTimeout bounds the wait for a client's PROXY header.
	// 0 means 5 s.
	ProxyHeaderTimeout time.Duration
	// Logger receives the errors the proxy handles itself: failed accepts
	// (it backs off), clients closed without reaching a backend (with
	// the last dial error) and rejected PROXY headers (at Warn at most
	// once per 10 s, the others at Debug). nil means discard.
	Logger *slog.Logger

	initOnce       sync.Once
	dialer         net.Dialer // to remote backends
	loopbackDialer net.Dialer // to loopback backends: no keepalive
	log            *slog.Logger
	ctx            context.Context // dials; canceled when Shutdown ends
	cancel         context.CancelFunc

	target atomic.Pointer[target] // current routing decision, replaced on Switch/Refuse
	limits atomic.Pointer[Limits] // set by SetLimits; nil: the option fields

	mu        sync.Mutex // guards the fields below and serializes Switch/Refuse
	listeners map[net.Listener]struct{}
	closing   chan struct{} // closed when Shutdown starts
	shutdown  bool

	// Open client connections, for Shutdown. No lock is common to all
	// connections: see track.
	conns       shardSet[*connEntry]
	stopping    atomic.Bool    // set by Shutdown once every Serve loop has returned (see Shutdown)
	serves      sync.WaitGroup // running Serve loops
	abortingAll atomic.Bool    // set when Shutdown's deadline passed (closeAll)
	idle        chan struct{}  // closed once stopping and no connection is open
	idleOnce    sync.Once

	loops loopRef // the event loops this proxy's links use (loop_linux.go)

	stats     stats
	rejectLog logLimiter

	// picked, if set by a test before Serve, runs between loading the
	// target and counting the connection on its backend: the window where a
	// concurrent Switch can retire (and drain) the backend picked.
	picked func(*Backend)
}

func (p *Proxy) dialTimeout() time.Duration {
	if p.DialTimeout <= 0 {
		return DefaultDialTimeout
	}
	return p.DialTimeout
}

// Limits are the options SetLimits may change while the proxy runs; each
// field has the meaning and default of the Proxy field of the same name.
// The PROXY protocol settings are among them because they belong to the
// backend (an app that starts to expect the header gets it from the moment
// traffic flips to it) and to the balancer in front, not to the listener.
type Limits struct {
	ConnectTimeout     time.Duration
	MaxConnections     int
	ClientWriteTimeout time.Duration

	ProxyProtocol       ProxyProtocol
	AcceptProxyProtocol bool
	TrustedProxies      []netip.Prefix // not modified after SetLimits
	ProxyHeaderTimeout  time.Duration
}

// SetLimits changes the Limits fields of a running Proxy. They apply to
// connections accepted from now on; those already open stay open and keep
// the values they started with.
func (p *Proxy) SetLimits(l Limits) {
	p.limits.Store(&l)
}

func (p *Proxy) currentLimits() Limits {
	if l := p.limits.Load(); l != nil {
		return *l
	}
	return Limits{
		ConnectTimeout: p.ConnectTimeout, MaxConnections: p.MaxConnections, ClientWriteTimeout: p.ClientWriteTimeout,
		ProxyProtocol: p.ProxyProtocol, AcceptProxyProtocol: p.AcceptProxyProtocol,
		TrustedProxies: p.TrustedProxies, ProxyHeaderTimeout: p.ProxyHeaderTimeout,
	}
}

func (l *Limits) proxyHeaderTimeout() time.Duration {
	if l.ProxyHeaderTimeout <= 0 {
		return DefaultProxyHeaderTimeout
	}
	return l.ProxyHeaderTimeout
}

func (p *Proxy) connectTimeout() time.Duration {
	if d := p.currentLimits().ConnectTimeout; d > 0 {
		return d
	}
	return DefaultConnectTimeout
}

// clientWriteTimeout returns 0 for "no limit".
func (p *Proxy) clientWriteTimeout() time.Duration {
	switch d := p.currentLimits().ClientWriteTimeout; {
	case d < 0:
		return 0
	case d == 0:
		return DefaultClientWriteTimeout
	default:
		return d
	}
}

// finTimeout returns 0 for "no limit".
func (p *Proxy) finTimeout() time.Duration {
	switch {
	case p.FinTimeout < 0:
		return 0
	case p.FinTimeout == 0:
		return DefaultFinTimeout
	}
	return p.FinTimeout
}

// init resolves defaults once; every entry point calls it.
func (p *Proxy) init() {
	p.initOnce.Do(func() {
		p.log = p.Logger
		if p.log == nil {
			p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		p.dialer = net.Dialer{Timeout: p.dialTimeout(), KeepAlive: p.clientKeepAlive()}
		p.loopbackDialer = net.Dialer{Timeout: p.dialTimeout(), KeepAlive: -1}
		p.ctx, p.cancel = context.WithCancel(context.Background())
		p.listeners = make(map[net.Listener]struct{})
		p.closing = make(chan struct{})
		p.idle = make(chan struct{})
		p.target.CompareAndSwap(nil, &target{changed: make(chan struct{})})
	})
}
