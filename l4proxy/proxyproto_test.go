package l4proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/pires/go-proxyproto"
)

// seen is what a headerServer got on one connection.
type seen struct {
	header *proxyproto.Header // nil: none
	sum    [sha256.Size]byte  // of every byte after the header, up to the client's half-close
	n      int64
}

// headerServer reads an optional PROXY header (with the library, as an app
// would), then every byte up to EOF, which only comes if the client's
// half-close was forwarded; it answers "ok" and reports what it saw.
func headerServer(t *testing.T) (*server, <-chan seen) {
	got := make(chan seen, 16)
	srv := newServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		var s seen
		if h, err := proxyproto.Read(br); err == nil {
			s.header = h
		}
		hash := sha256.New()
		s.n, _ = io.Copy(hash, br)
		copy(s.sum[:], hash.Sum(nil))
		io.WriteString(c, "ok")
		got <- s
	})
	return srv, got
}

// send writes first in one write, then rest, half-closes, and expects "ok".
func send(t *testing.T, c *net.TCPConn, first, rest []byte) {
	t.Helper()
	if _, err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(rest); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(c); err != nil || string(b) != "ok" {
		t.Fatalf("answer %q, %v; want ok after the half-close", b, err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func wantSeen(t *testing.T, got <-chan seen, payload []byte) seen {
	t.Helper()
	select {
	case s := <-got:
		if s.n != int64(len(payload)) || s.sum != sha256.Sum256(payload) {
			t.Fatalf("backend got %d bytes after the header, want the client's %d byte for byte", s.n, len(payload))
		}
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("backend saw nothing")
		return seen{}
	}
}

func wantAddrs(t *testing.T, h *proxyproto.Header, version byte, src, dst string) {
	t.Helper()
	if h == nil {
		t.Fatal("backend got no PROXY header")
	}
	if h.Version != version || !h.Command.IsProxy() || h.SourceAddr.String() != src || h.DestinationAddr.String() != dst {
		t.Fatalf("header v%d %v %v -> %v; want v%d PROXY %s -> %s", h.Version, h.Command, h.SourceAddr, h.DestinationAddr, version, src, dst)
	}
}

// TestProxyProtocolToBackend: with ProxyProtocol every backend connection
// starts with a header naming the client and the address it connected to;
// the client's bytes follow it exactly and its half-close still arrives.
// Without it the backend sees the client's bytes only; SetLimits turns it
// on for new connections.
func TestProxyProtocolToBackend(t *testing.T) {
	for _, v := range []ProxyProtocol{ProxyProtocolV1, ProxyProtocolV2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			srv, got := headerServer(t)
			p := &Proxy{ProxyProtocol: v}
			p.Switch(NewBackend(srv.addr()))
			addr := startProxy(t, p)
			c := testutil.Dial(t, addr)
			payload := randomBytes(t, 1<<20)
			send(t, c, payload[:100], payload[100:])
			s := wantSeen(t, got, payload)
			wantAddrs(t, s.header, byte(v), c.LocalAddr().String(), addr)
		})
	}
	t.Run("off, then on with SetLimits", func(t *testing.T) {
		srv, got := headerServer(t)
		p := &Proxy{}
		p.Switch(NewBackend(srv.addr()))
		addr := startProxy(t, p)
		plain := []byte("GET / HTTP/1.0\r\n\r\n")
		send(t, testutil.Dial(t, addr), plain, nil)
		if s := wantSeen(t, got, plain); s.header != nil {
			t.Fatalf("got a header without ProxyProtocol: %+v", s.header)
		}
		p.SetLimits(Limits{ProxyProtocol: ProxyProtocolV1})
		c := testutil.Dial(t, addr)
		send(t, c, plain, nil)
		wantAddrs(t, wantSeen(t, got, plain).header, 1, c.LocalAddr().String(), addr)
	})
}

func header(t *testing.T, v byte, src, dst string) []byte {
	t.Helper()
	s, d := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)), net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst))
	b, err := proxyproto.HeaderProxyFromAddrs(v, s, d).Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var loopbackOnly = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// TestAcceptProxyProtocol: a trusted client's header names the client for
// the backend (v1 or v2 in, v1, v2 or none out). The bytes that came in
// the same packet as the header reach the backend first, then the rest.
func TestAcceptProxyProtocol(t *testing.T) {
	for _, in := range []byte{1, 2} {
		for _, out := range []ProxyProtocol{ProxyProtocolOff, ProxyProtocolV1, ProxyProtocolV2} {
			t.Run(fmt.Sprintf("v%d in, v%d out", in, out), func(t *testing.T) {
				srv, got := headerServer(t)
				p := &Proxy{AcceptProxyProtocol: true, TrustedProxies: loopbackOnly, ProxyProtocol: out}
				p.Switch(NewBackend(srv.addr()))
				addr := startProxy(t, p)
				payload := randomBytes(t, 256<<10)
				c := testutil.Dial(t, addr)
				// Header and the first 1000 bytes in one write: more than
				// the header buffer holds, so part is early, part spliced.
				first := append(header(t, in, "203.0.113.7:4711", "198.51.100.1:443"), payload[:1000]...)
				send(t, c, first, payload[1000:])
				s := wantSeen(t, got, payload)
				if out == ProxyProtocolOff {
					if s.header != nil {
						t.Fatalf("backend got a header: %+v", s.header)
					}
				} else {
					wantAddrs(t, s.header, byte(out), "203.0.113.7:4711", "198.51.100.1:443")
				}
				if st := p.Stats(); st.ProxyHeaderRejected != 0 || st.Failed != 0 {
					t.Fatalf("stats %+v", st)
				}
			})
		}
	}
	t.Run("LOCAL keeps the socket's addresses", func(t *testing.T) {
		srv, got := headerServer(t)
		p := &Proxy{AcceptProxyProtocol: true, TrustedProxies: loopbackOnly, ProxyProtocol: ProxyProtocolV2}
		p.Switch(NewBackend(srv.addr()))
		addr := startProxy(t, p)
		local, err := (&proxyproto.Header{Version: 2, Command: proxyproto.LOCAL}).Format()
		if err != nil {
			t.Fatal(err)
		}
		c := testutil.Dial(t, addr)
		send(t, c, local, []byte("hi"))
		wantAddrs(t, wantSeen(t, got, []byte("hi")).header, 2, c.LocalAddr().String(), addr)
	})
}

// TestProxyHeaderRejected: a client from an untrusted address, with garbage
// or a broken header, or silent past the header timeout is closed without
// a backend connection, counted, and logged loudly once (then at Debug).
func TestProxyHeaderRejected(t *testing.T) {
	srv := newServer(t, named("s"))
	logs := &testutil.LockedBuffer{}
	p := &Proxy{AcceptProxyProtocol: true, TrustedProxies: loopbackOnly, ProxyHeaderTimeout: 150 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	p.Switch(NewBackend(srv.addr()))
	addr := startProxy(t, p)
	cases := []struct {
		name string
		send string
		max  time.Duration // closed within
	}{
		{"garbage", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", time.Second},
		{"broken v1", "PROXY TCP4 1.2.3.4 nonsense\r\n", time.Second},
		{"broken v2", string(proxyproto.SIGV2) + "\x21\x11\x00\x02ab", time.Second},
		{"silent", "", 2 * time.Second},
		{"half a header, then silent", "PROXY TCP4 1.2.", 2 * time.Second},
	}
	for i, tc := range cases {
		c := testutil.Dial(t, addr)
		io.WriteString(c, tc.send)
		start := time.Now()
		if d := expectClosed(t, c, 5*time.Second); d > tc.max {
			t.Errorf("%s: closed after %v", tc.name, d)
		}
		if tc.send == "" && time.Since(start) < 100*time.Millisecond {
			t.Errorf("%s: closed before the header timeout", tc.name)
		}
		if n := p.Stats().ProxyHeaderRejected; n != uint64(i+1) {
			t.Errorf("%s: ProxyHeaderRejected = %d, want %d", tc.name, n, i+1)
		}
	}

	// Untrusted: the same valid header from an address outside the list.
	p.SetLimits(Limits{AcceptProxyProtocol: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	c := testutil.Dial(t, addr)
	c.Write(header(t, 1, "203.0.113.7:4711", "198.51.100.1:443"))
	if d := expectClosed(t, c, 5*time.Second); d > time.Second {
		t.Errorf("untrusted: closed after %v", d)
	}
	st := p.Stats()
	if st.ProxyHeaderRejected != uint64(len(cases)+1) || st.Failed != 0 || srv.accepted.Load() != 0 {
		t.Fatalf("stats %+v, backend accepted %d; want every client rejected, none at the backend", st, srv.accepted.Load())
	}
	out := logs.String()
	if n := strings.Count(out, "level=WARN msg=\"l4proxy: client closed: PROXY header rejected\""); n != 1 {
		t.Errorf("want 1 Warn line about rejected headers, got %d:\n%s", n, out)
	}
	if n := strings.Count(out, "PROXY header rejected"); n != len(cases)+1 {
		t.Errorf("want %d lines about rejected headers, got %d:\n%s", len(cases)+1, n, out)
	}
	if !strings.Contains(out, "address not in trusted_proxies") || !strings.Contains(out, "no PROXY header in time") {
		t.Errorf("log does not say why:\n%s", out)
	}
}

func TestLogLimiter(t *testing.T) {
	var l logLimiter
	if ok, d := l.allow(50 * time.Millisecond); !ok || d != 0 {
		t.Fatalf("first: %v %d", ok, d)
	}
	for range 3 {
		if ok, _ := l.allow(50 * time.Millisecond); ok {
			t.Fatal("let through within the period")
		}
	}
	time.Sleep(60 * time.Millisecond)
	if ok, d := l.allow(50 * time.Millisecond); !ok || d != 3 {
		t.Fatalf("after the period: %v %d, want true 3", ok, d)
	}
}

// TestWriteProxyHeader: what a health check sends parses back.
func TestWriteProxyHeader(t *testing.T) {
	src, dst := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 6}
	for _, v := range []ProxyProtocol{ProxyProtocolV1, ProxyProtocolV2} {
		var b bytes.Buffer
		if err := WriteProxyHeader(&b, v, src, dst); err != nil {
			t.Fatal(err)
		}
		h, err := proxyproto.Read(bufio.NewReader(&b))
		if err != nil || h.Version != byte(v) || h.SourceAddr.String() != src.String() || h.DestinationAddr.String() != dst.String() {
			t.Fatalf("v%d: %+v, %v", v, h, err)
		}
	}
	var b bytes.Buffer
	if err := WriteProxyHeader(&b, ProxyProtocolOff, src, dst); err != nil || b.Len() != 0 {
		t.Fatalf("off wrote %q, %v", b.Bytes(), err)
	}
}
