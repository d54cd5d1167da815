package l4proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"
)

// ProxyProtocol is a version of the PROXY protocol (HAProxy's), which tells
// a server behind a proxy who the client is: a header, written before any
// byte of the client's, with the client's address and the address it
// connected to.
type ProxyProtocol byte

// The versions of the PROXY protocol: v1 is a line of text, v2 binary.
const (
	ProxyProtocolOff ProxyProtocol = 0
	ProxyProtocolV1  ProxyProtocol = 1
	ProxyProtocolV2  ProxyProtocol = 2
)

// DefaultProxyHeaderTimeout is how long a client from a trusted proxy may
// take to send its PROXY header.
const DefaultProxyHeaderTimeout = 5 * time.Second

// headerBufferSize is the read buffer a PROXY header is parsed from. A v1
// header is at most 107 bytes and a v2 header without TLVs at most 232;
// longer ones are read through it. What the client sent after the header
// and the buffer already holds goes to the backend first (peer.early).
const headerBufferSize = 256

// Why a client was closed before it reached a backend, because of its PROXY
// header. Each is counted in Stats.ProxyHeaderRejected.
var (
	errUntrusted     = errors.New("connection from an address not in trusted_proxies")
	errHeaderTimeout = errors.New("no PROXY header in time")
	errBadHeader     = errors.New("missing or malformed PROXY header")
)

// peer is the client as the backend sees it: where it came from, the
// address it connected to, and the bytes it sent after its PROXY header
// that were read together with the header.
type peer struct {
	src, dst net.Addr
	early    []byte
}

// readPeer returns who client is. Without AcceptProxyProtocol that is the
// socket's two addresses. With it, client must come from a trusted address
// and start with a valid PROXY header (v1 or v2) within the header timeout;
// the header's addresses are then the client's (a LOCAL header, or one
// for an unknown protocol, keeps the socket's). The error wraps
// errUntrusted, errHeaderTimeout or errBadHeader.
func readPeer(client net.Conn, lim *Limits) (peer, error) {
	pr := peer{src: client.RemoteAddr(), dst: client.LocalAddr()}
	if !lim.AcceptProxyProtocol {
		return pr, nil
	}
	if !trusted(lim.TrustedProxies, pr.src) {
		return pr, errUntrusted
	}
	if err := client.SetReadDeadline(time.Now().Add(lim.proxyHeaderTimeout())); err != nil {
		return pr, err
	}
	br := bufio.NewReaderSize(client, headerBufferSize)
	h, err := proxyproto.Read(br)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return pr, fmt.Errorf("%w: %w", errHeaderTimeout, err)
		}
		return pr, fmt.Errorf("%w: %w", errBadHeader, err)
	}
	if err := client.SetReadDeadline(time.Time{}); err != nil {
		return pr, err
	}
	if h.Command.IsProxy() && h.SourceAddr != nil && h.DestinationAddr != nil {
		pr.src, pr.dst = h.SourceAddr, h.DestinationAddr
	}
	if n := br.Buffered(); n > 0 {
		pr.early, _ = br.Peek(n)
	}
	return pr, nil
}

// trusted reports whether addr's IP is in one of the prefixes.
func trusted(prefixes []netip.Prefix, addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// preamble is what the backend gets before the client's first byte is
// spliced: the PROXY header of version v (none when off), then the
// client's early bytes. Both go out in one write.
func (pr *peer) preamble(v ProxyProtocol) ([]byte, error) {
	if v == ProxyProtocolOff {
		return pr.early, nil
	}
	h, err := proxyproto.HeaderProxyFromAddrs(byte(v), pr.src, pr.dst).Format()
	if err != nil {
		return nil, fmt.Errorf("format PROXY header: %w", err)
	}
	return append(h, pr.early...), nil
}

// WriteProxyHeader writes a PROXY header of version v for a connection
// from src to dst to w; with ProxyProtocolOff it writes nothing. Health
// checks that must look like proxied clients use it.
func WriteProxyHeader(w io.Writer, v ProxyProtocol, src, dst net.Addr) error {
	if v == ProxyProtocolOff {
		return nil
	}
	_, err := proxyproto.HeaderProxyFromAddrs(byte(v), src, dst).WriteTo(w)
	return err
}

// rejectLogEvery is how often a rejected PROXY header is logged at Warn;
// the ones between go to Debug, and the next Warn line says how many.
// A port scan or a misconfigured balancer causes one per connection.
const rejectLogEvery = 10 * time.Second

// logLimiter lets one event in each period through. Safe for concurrent use.
type logLimiter struct {
	mu      sync.Mutex
	next    time.Time
	dropped int // events held back since the last one let through
}

// allow reports whether this event may be logged loudly and, if so, how
// many were held back before it.
func (r *logLimiter) allow(every time.Duration) (ok bool, dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Before(r.next) {
		r.dropped++
		return false, 0
	}
	r.next, dropped, r.dropped = now.Add(every), r.dropped, 0
	return true, dropped
}
