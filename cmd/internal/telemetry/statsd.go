package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/procs"
)

// statsdMaxPacket keeps a datagram within a typical MTU.
const statsdMaxPacket = 1432

// statsdIdleCheck is how often a daemon without statsd looks whether an
// update turned it on.
const statsdIdleCheck = 10 * time.Second

// statsdPusher sends the apps' figures to statsd over UDP: gauges for
// states and open connections, counters as the increase since the last
// push, and the mean reload duration of the interval as a timer. Owned by
// runStatsd's goroutine.
type statsdPusher struct {
	log  *slog.Logger
	src  Source
	cfg  func() config.Statsd // the running config's section
	conn net.Conn
	addr string
	last map[string]procs.AppMetrics // the previous push, by app
}

// Statsd pushes the apps' figures to statsd until Stop.
type Statsd struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// StartStatsd starts pushing src's figures as the statsd section that cfg
// returns says (the running config's: an update may turn it on, off, or
// move it).
func StartStatsd(log *slog.Logger, src Source, cfg func() config.Statsd) *Statsd {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Statsd{cancel: cancel, done: make(chan struct{})}
	go runStatsd(ctx, &statsdPusher{log: log, src: src, cfg: cfg}, s.done)
	return s
}

// Stop ends the push and waits for it.
func (s *Statsd) Stop() {
	s.cancel()
	<-s.done
}

// runStatsd pushes every interval until ctx ends. It follows updates of
// the statsd section (address, prefix, interval, on and off).
func runStatsd(ctx context.Context, p *statsdPusher, done chan<- struct{}) {
	defer close(done)
	defer p.closeConn()
	for {
		wait := statsdIdleCheck
		if c := p.cfg(); c.Enabled() {
			wait = c.Interval
			if err := p.push(ctx, c); err != nil {
				p.log.Warn("statsd push failed", "address", c.Address, "err", err)
			}
		} else {
			p.closeConn()
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// statsdDialTimeout bounds resolving the statsd address.
const statsdDialTimeout = 2 * time.Second

// push sends one round of figures.
func (p *statsdPusher) push(ctx context.Context, c config.Statsd) error {
	apps, err := p.src.Metrics()
	if err != nil {
		return err
	}
	if p.conn == nil || p.addr != c.Address {
		p.closeConn()
		// Bounded and cancelled by shutdown: a slow DNS server must not hold either.
		d := net.Dialer{Timeout: statsdDialTimeout}
		conn, err := d.DialContext(ctx, "udp", c.Address)
		if err != nil {
			return err
		}
		p.conn, p.addr = conn, c.Address
	}
	var lines []string
	next := make(map[string]procs.AppMetrics, len(apps))
	for _, m := range apps {
		lines = append(lines, statsdLines(c.Prefix, m, p.last[m.Status.Name])...)
		next[m.Status.Name] = m
	}
	p.last = next
	return sendPackets(p.conn, lines)
}

func (p *statsdPusher) closeConn() {
	if p.conn != nil {
		p.conn.Close()
		p.conn, p.addr = nil, ""
	}
}

// statsdLines are one app's figures; counters are the increase over prev
// (the whole count when prev is older than a reset, e.g. the app was
// removed and added again).
func statsdLines(prefix string, m, prev procs.AppMetrics) []string {
	name := strings.Join(nonEmpty(prefix, "app", strings.ReplaceAll(m.Status.Name, ".", "_")), ".")
	var out []string
	add := func(key string, v string, kind string) { out = append(out, name+"."+key+":"+v+"|"+kind) }
	gauge := func(key string, v int64) { add(key, strconv.FormatInt(v, 10), "g") }
	count := func(key string, now, before uint64) {
		d := now
		if now >= before {
			d = now - before
		}
		add(key, strconv.FormatUint(d, 10), "c")
	}
	for _, s := range appStates {
		gauge("state."+string(s), boolInt(m.Status.State == s))
	}
	byState := instancesByState(&m)
	for _, s := range instanceStates {
		gauge("instances."+string(s), byState[s])
	}
	for _, f := range figures {
		switch {
		case f.statsd == "":
		case f.gauge != nil:
			gauge(f.statsd, f.gauge(&m))
		default:
			count(f.statsd, f.counter(&m), f.counter(&prev))
		}
	}
	h, ph := m.ReloadSeconds, prev.ReloadSeconds
	if h.Count > ph.Count {
		mean := (h.Sum - ph.Sum) / float64(h.Count-ph.Count) * 1000
		add("reload_duration", strconv.FormatFloat(mean, 'f', 3, 64), "ms")
	}
	return out
}

func nonEmpty(parts ...string) []string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// sendPackets writes lines in datagrams of at most statsdMaxPacket bytes.
func sendPackets(conn net.Conn, lines []string) error {
	var b strings.Builder
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		_, err := conn.Write([]byte(b.String()))
		b.Reset()
		return err
	}
	for _, l := range lines {
		if b.Len() > 0 && b.Len()+1+len(l) > statsdMaxPacket {
			if err := flush(); err != nil {
				return fmt.Errorf("send: %w", err)
			}
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}
