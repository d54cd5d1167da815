package l4proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Dial retry backoff while a backend refuses connections (e.g. crashed and
// restarting); capped so a recovering backend is found quickly.
const (
	minDialBackoff = 10 * time.Millisecond
	maxDialBackoff = 250 * time.Millisecond
)

// Why a client was closed without reaching a backend.
var (
	errRefused   = errors.New("proxy refuses connections")
	errNoBackend = errors.New("no backend")
	errClosing   = errors.New("proxy shutting down")
	// errConnectTimeout: no usable backend within ConnectTimeout.
	errConnectTimeout = errors.New("connect timeout")
)

// serveConn finds a backend for client (waiting up to ConnectTimeout) and
// proxies it. It owns client and closes it on return.
// inherited says the listener already gave client its keepalive setting.
// e is client's entry among the proxy's open connections (see track),
// start when it was accepted, and skip a backend whose dial just failed
// for it with skipErr (nil if none).
func (p *Proxy) serveConn(client net.Conn, inherited bool, e *connEntry, start time.Time, skip *Backend, skipErr error) {
	defer client.Close()
	if !inherited {
		p.setClientKeepAlive(client)
	}
	lim := p.currentLimits()
	w := waiter{p: p, start: start, entry: e}
	w.deadline = w.start.Add(p.connectTimeout())
	pr, err := readPeer(client, &lim)
	if err != nil {
		p.rejected(pr, err)
		return
	}
	if w.preamble, err = pr.preamble(lim.ProxyProtocol); err != nil {
		p.stats.failed.Add(1)
		p.log.Warn("l4proxy: client closed without a backend", "client", pr.src.String(), "err", err)
		return
	}
	err = p.connect(client, &w, skip, skipErr)
	if err == nil {
		return
	}
	p.stats.failed.Add(1)
	level := slog.LevelWarn
	if errors.Is(err, errRefused) || errors.Is(err, errClosing) {
		level = slog.LevelDebug // expected, and possibly one per client
	}
	p.log.Log(context.Background(), level, "l4proxy: client closed without a backend",
		"client", pr.src.String(), "waited", time.Since(w.start).Round(time.Millisecond), "err", err)
}

// rejected counts and logs a client closed because of its PROXY header
// (see readPeer): at Warn once per rejectLogEvery, else at Debug.
func (p *Proxy) rejected(pr peer, err error) {
	p.stats.rejected.Add(1)
	level, args := slog.LevelDebug, []any{"client", pr.src.String(), "err", err}
	if ok, dropped := p.rejectLog.allow(rejectLogEvery); ok {
		level = slog.LevelWarn
		args = append(args, "not_logged_since_last", dropped)
	}
	p.log.Log(context.Background(), level, "l4proxy: client closed: PROXY header rejected", args...)
}

// connect proxies client to a current backend, waiting for one (or for
// a failing one to accept) until the connect deadline. With several
// backends, one whose dial fails is left out and the next least loaded is
// tried at once; only when every one has failed does the client back off.
// skip, if not nil, counts as failed with skipErr in the first round. It
// returns nil once the client was served, else why it was not.
func (p *Proxy) connect(client net.Conn, w *waiter, skip *Backend, skipErr error) error {
	lastErr := errNoBackend
	var failed []*Backend // backends of t whose dial failed this round
	if skip != nil {
		failed, lastErr = append(failed, skip), skipErr
	}
	for {
		t := p.target.Load()
		if t.refuse {
			return errRefused
		}
		var backoff time.Duration
		if b := t.pick(failed); b != nil {
			if p.picked != nil {
				p.picked(b)
			}
			served, err := p.proxyTo(b, client, w)
			if served {
				return nil
			}
			// err == nil: b was retired since we loaded t: by this
			// proxy's Switch (t.changed is closed, wait returns at once)
			// or by another proxy sharing it (wait for a Switch).
			if err != nil {
				lastErr = err
				failed = append(failed, b)
			}
			if t.pick(failed) != nil {
				continue // another backend of t may take the client
			}
		}
		if len(failed) > 0 { // every backend of t failed: retry after a backoff, or at once on Switch
			backoff = w.nextBackoff()
		}
		if err := w.wait(t.changed, backoff); err != nil {
			return fmt.Errorf("%w (last: %w)", err, lastErr)
		}
		failed = failed[:0]
	}
}

// proxyTo counts a connection on b, dials it and proxies client to it: it
// hands the two sockets to an event loop (Linux, see loop_linux.go) and
// returns, or copies in this goroutine and a second one until both
// directions are done. It returns served == false with a nil error if b
// was retired (nothing was dialed), or with the dial error. The count is
// taken before the dial and dropped when the proxied connection ends (or
// the dial failed), so b's drained gate cannot close while a dial to it is
// in flight or a link to it is open.
func (p *Proxy) proxyTo(b *Backend, client net.Conn, w *waiter) (served bool, err error) {
	if !b.acquire() {
		return false, nil
	}
	handed := false
	defer func() {
		if !handed {
			b.release()
		}
	}()
	backend, err := p.dial(b, w.deadline)
	if err != nil {
		return false, err
	}
	if err := writePreamble(backend, w.preamble); err != nil {
		return false, err // nothing of the client's is lost: try again
	}
	if p.handoff(b, client, backend, w.entry) {
		handed = true // the loop releases b, and untracks the client, when the link ends
		return true, nil
	}
	l := p.newLink(client, backend)
	b.carried()
	b.attach(&l.member, l)
	defer b.detach(&l.member)
	l.run()
	return true, nil
}

// writePreamble writes the PROXY header and the client's early bytes (see
// peer.preamble) to a backend connection that was just dialed, in one
// write; the splice copy then starts with the client's next byte. On error
// the backend connection is closed.
func writePreamble(backend net.Conn, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := backend.Write(b); err != nil {
		backend.Close()
		return fmt.Errorf("write to backend before the copy: %w", err)
	}
	return nil
}

// dial connects to b within the dial timeout and the client's connect
// deadline. The shared dialers are copied only when the deadline is nearer
// than the dial timeout, which keeps the common first attempt cheap.
// (Dialer.DialTCP would skip the address parsing, but it binds the socket
// first: one more system call than this.)
func (p *Proxy) dial(b *Backend, deadline time.Time) (net.Conn, error) {
	d := &p.dialer
	if b.loopback {
		d = &p.loopbackDialer
	}
	if time.Until(deadline) < d.Timeout {
		dd := *d
		dd.Deadline = deadline
		d = &dd
	}
	return d.DialContext(p.ctx, "tcp", b.addr)
}

// waiter tracks one client's wait for a usable backend.
type waiter struct {
	p        *Proxy
	start    time.Time   // when the client was accepted
	deadline time.Time   // start + ConnectTimeout
	timer    *time.Timer // created on the first wait only
	preamble []byte      // written to every backend connection first (see writePreamble)
	entry    *connEntry  // the client's tracking entry (see Proxy.track)
	backoff  time.Duration
	waited   bool
}

// wait blocks until changed is closed or backoff (if > 0) has passed, and
// returns nil then; or until the connect deadline passes or Shutdown
// starts, and returns why.
func (w *waiter) wait(changed <-chan struct{}, backoff time.Duration) error {
	select {
	case <-changed:
		return nil
	default:
	}
	left := time.Until(w.deadline)
	if left <= 0 {
		return errConnectTimeout
	}
	if !w.waited {
		w.waited = true
		w.p.stats.waited.Add(1)
	}
	short := backoff > 0 && backoff < left
	if short {
		left = backoff
	}
	if w.timer == nil {
		w.timer = time.NewTimer(left)
	} else {
		w.timer.Reset(left)
	}
	select {
	case <-changed:
		return nil
	case <-w.timer.C:
		if short {
			return nil
		}
		return errConnectTimeout
	case <-w.p.closing:
		return errClosing
	}
}

func (w *waiter) nextBackoff() time.Duration {
	if w.backoff == 0 {
		w.backoff = minDialBackoff
	} else {
		w.backoff = min(2*w.backoff, maxDialBackoff)
	}
	return w.backoff
}
