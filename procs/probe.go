package procs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/l4proxy"
)

// readyPollInterval is how often a starting instance is probed (see
// timing.readyPoll), so a reload flips traffic within a few tens of
// milliseconds of the app being ready.
const readyPollInterval = 25 * time.Millisecond

// defaultProbeTimeout bounds one probe when healthcheck_timeout is 0.
const defaultProbeTimeout = 2 * time.Second

// errNotHealthy is wrapped by a probe answered with a status other than 200.
var errNotHealthy = errors.New("not healthy")

// A prober checks one instance: HTTP GET of the healthcheck path expecting
// 200 (redirects are not followed), or, without a healthcheck, a TCP connect.
// With header set, every probe connection starts with a PROXY header
// (healthcheck_proxy_protocol) naming the probe's own two addresses.
// Safe for concurrent use.
type prober struct {
	addr    string // host:port of the instance
	url     string // "" = TCP connect
	timeout time.Duration
	client  *http.Client
	header  l4proxy.ProxyProtocol // off: none
}

// proberFor is the prober of cfg's instance on port.
func proberFor(cfg *config.App, port int) *prober {
	p := newProber(cfg.InternalHost, port, cfg.Healthcheck, cfg.HealthcheckTimeout)
	if cfg.Proxy.Healthcheck {
		p.header = l4proxy.ProxyProtocol(cfg.Proxy.Send)
	}
	return p
}

// newProber is a prober that sends no PROXY header.
func newProber(host string, port int, path string, timeout time.Duration) *prober {
	if timeout <= 0 {
		timeout = defaultProbeTimeout
	}
	p := &prober{addr: net.JoinHostPort(host, strconv.Itoa(port)), timeout: timeout}
	if path != "" {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		p.url = "http://" + p.addr + path
		p.client = &http.Client{
			// No keep-alive: a probe leaves no idle connection (or goroutine) behind.
			Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil, DialContext: p.dial},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return p
}

// dial connects to the instance and writes the PROXY header, if any.
func (p *prober) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil || p.header == l4proxy.ProxyProtocolOff {
		return c, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetWriteDeadline(dl)
	}
	if err := l4proxy.WriteProxyHeader(c, p.header, c.LocalAddr(), c.RemoteAddr()); err != nil {
		c.Close()
		return nil, fmt.Errorf("write PROXY header: %w", err)
	}
	_ = c.SetWriteDeadline(time.Time{})
	return c, nil
}

// probeAddr runs one check, bounded by the probe timeout and ctx, and
// returns the address (an IP literal and port) its connection reached. It
// is a probe.
func (p *prober) probeAddr(ctx context.Context) (reached string, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if p.url == "" {
		c, err := p.dial(ctx, "tcp", p.addr)
		if err != nil {
			return "", err
		}
		reached = c.RemoteAddr().String()
		return reached, c.Close()
	}
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { reached = ci.Conn.RemoteAddr().String() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, p.url, nil)
	if err != nil {
		return "", err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %w", p.url, resp.Status, errNotHealthy)
	}
	return reached, nil
}

// waitReady runs check every poll until it passes (nil, and the address
// it reached), the process exits, startTimeout passes (0 = no limit) or ctx
// ends.
func waitReady(ctx context.Context, check probe, exited <-chan struct{}, startTimeout, poll time.Duration) (string, error) {
	parent := ctx
	if startTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var telling error // the most telling failure so far (see moreTelling)
	for {
		reached, err := check(ctx)
		if err == nil {
			return reached, nil
		}
		if telling == nil || moreTelling(err, telling) {
			telling = err
		}
		select {
		case <-tick.C:
		case <-exited:
			return "", errExitedEarly
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return "", err
			}
			return "", fmt.Errorf("%w (%s; probe: %v)", errStartTimeout, startTimeout, telling)
		}
	}
}

// moreTelling reports whether err says more about a start that never gets
// ready than was: a refusal, or an HTTP status, says what the app does; a
// timeout (a DNS lookup or a dial cut short by the probe's deadline) says
// only that the probe ran out of time. The newest of equally telling ones
// wins.
func moreTelling(err, was error) bool {
	return !isTimeout(err) || isTimeout(was)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		(errors.As(err, &ne) && ne.Timeout())
}
