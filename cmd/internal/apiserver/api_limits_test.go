package apiserver

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testRefusalLog is the daemon's refusal log on a fake clock; its timer
// never fires during a test (an hour), the test sweeps by hand.
func testRefusalLog(t *testing.T, log *slog.Logger) (*RefusalLog, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)}
	l := NewRefusalLog(log)
	l.interval, l.now = time.Hour, clock.now
	t.Cleanup(l.Close)
	return l, clock
}

// serveTestAPI serves h like the daemon does, on 127.0.0.1:0, capped at
// maxConns connections, and returns the address.
func serveTestAPI(t *testing.T, h http.Handler, lim Limits, maxConns int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h, slog.New(slog.NewTextHandler(io.Discard, nil)), lim)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(newLimitListener(ln, maxConns)) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// rawRequest sends a request line and headers (and body) on a new
// connection and returns the connection and a reader of its answer.
func rawRequest(t *testing.T, addr, head string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// readStatus reads one answer's status code, with a deadline.
func readStatus(t *testing.T, c net.Conn, r *bufio.Reader, within time.Duration) (int, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("no answer within %s: %v", within, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Issue 18 item 2: a flood of requests without a token and with long paths
// costs one log line per source and interval, each value cut; the count of
// the others follows when the interval ends; every refusal is counted.
func TestRefusalFloodLogIsBounded(t *testing.T) {
	logBuf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logBuf, nil))
	a := routingAPI(nil, nil)
	a.Log = log
	a.Security = &Security{tokenHash: sha256.Sum256([]byte(testToken)), hasToken: true, loopbackTCP: true, rpcHost: "localhost"}
	var clock *fakeClock
	a.Refusals, clock = testRefusalLog(t, log)
	addr := serveTestAPI(t, a.Handler(), Limits{}, 8)

	const n = 200
	long := "/api/v1/apps/" + strings.Repeat("x\n", 1750) // a 7 KiB URI with %0A, under the limit
	c, r := rawRequest(t, addr, "")
	for i := range n {
		path := long
		if i%2 == 1 {
			path = "/api/v1/status" // also refused, same source
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", strings.ReplaceAll(path, "\n", "%0A"))
		if code, _ := readStatus(t, c, r, 5*time.Second); code != http.StatusUnauthorized {
			t.Fatalf("request %d: %d, want 401", i, code)
		}
	}
	got := logBuf.String()
	if lines := strings.Count(got, "\n"); lines != 1 || len(got) > 1024 {
		t.Fatalf("%d requests logged %d lines, %d bytes; want 1 line under 1 KiB:\n%s", n, lines, len(got), got)
	}
	if !strings.Contains(got, `path="/api/v1/apps/x\nx\n`) || !strings.Contains(got, `… (3513 bytes)"`) {
		t.Errorf("path not escaped, cut and quoted:\n%s", got)
	}
	clock.advance(time.Hour)
	a.Refusals.sweep()
	if got := logBuf.String(); !strings.Contains(got, "msg=\"api requests refused, not logged one by one\" from=127.0.0.1 reason=missing_token count=199") {
		t.Errorf("no count of the refusals not logged:\n%s", got)
	}
	if v := testutil.ToFloat64(a.Refusals.refused.WithLabelValues(reasonNoToken)); v != n {
		t.Errorf("gracevisor_api_refused_total{reason=missing_token} = %v, want %d", v, n)
	}

	// Over 8 KiB: 414 before the guard (no token needed to get it); over
	// MaxHeaderBytes: Go's own 431, which never reaches a handler or the log.
	c414, r414 := rawRequest(t, addr, "GET /"+strings.Repeat("a", 9<<10)+" HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if code, body := readStatus(t, c414, r414, 5*time.Second); code != http.StatusRequestURITooLong || !strings.Contains(body, "request URI too long") {
		t.Errorf("9 KiB URI: %d %s, want 414", code, body)
	}
	if v := testutil.ToFloat64(a.Refusals.refused.WithLabelValues(reasonURITooLong)); v != 1 {
		t.Errorf("gracevisor_api_refused_total{reason=uri_too_long} = %v, want 1", v)
	}
	c431, r431 := rawRequest(t, addr, "GET /"+strings.Repeat("a", 100<<10)+" HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if code, _ := readStatus(t, c431, r431, 5*time.Second); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KiB URI: %d, want 431", code)
	}
	if got := logBuf.String(); len(got) > 2048 {
		t.Errorf("log grew to %d bytes:\n%s", len(got), got)
	}
}

// Sources and reasons are limited apart; once the table is full, new
// sources share one entry; close reports what is still counted.
func TestRefusalLogSources(t *testing.T) {
	logBuf := &syncBuffer{}
	l, clock := testRefusalLog(t, slog.New(slog.NewTextHandler(logBuf, nil)))
	l.maxSources = 3
	admitted := func(src, reason string) bool { return l.admit(refusalKey{src, reason}) }
	for _, tc := range []struct {
		src, reason string
		want        bool
	}{
		{"10.0.0.1", reasonNoToken, true}, {"10.0.0.1", reasonNoToken, false},
		{"10.0.0.1", reasonWrongToken, true}, // another reason: its own window
		{"10.0.0.2", reasonNoToken, true}, {"10.0.0.2", reasonNoToken, false},
		{"10.0.0.3", reasonNoToken, true}, {"10.0.0.4", reasonNoToken, false}, // the table is full: both are "other"
	} {
		if got := admitted(tc.src, tc.reason); got != tc.want {
			t.Errorf("admit(%s, %s) = %v, want %v", tc.src, tc.reason, got, tc.want)
		}
	}
	clock.advance(30 * time.Minute)
	l.sweep() // nothing ended yet
	if logBuf.String() != "" {
		t.Fatalf("logged before the interval ended:\n%s", logBuf)
	}
	clock.advance(30 * time.Minute)
	if !admitted("10.0.0.1", reasonNoToken) {
		t.Error("a new interval: the first refusal must be logged")
	}
	l.Close()
	got := logBuf.String()
	for _, want := range []string{"from=10.0.0.1 reason=missing_token count=1", "from=10.0.0.2 reason=missing_token count=1", "from=other reason=missing_token count=1"} {
		if strings.Count(got, want) != 1 {
			t.Errorf("want one %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "\n") != 3 {
		t.Errorf("want 3 lines (windows without suppressed refusals log none):\n%s", got)
	}
	if len(l.windows) != 0 {
		t.Errorf("%d windows left after close", len(l.windows))
	}
}

func TestClip(t *testing.T) {
	if got := clip("short"); got != "short" {
		t.Errorf("clip(short) = %q", got)
	}
	s := strings.Repeat("a", maxClientString-1) + "é" + strings.Repeat("b", 50) // é straddles the cut
	got := clip(s)
	if want := strings.Repeat("a", maxClientString-1) + "… (251 bytes)"; got != want {
		t.Errorf("clip = %q, want %q", got, want)
	}
}

// Issue 18 item 4: at most maxConns connections are served at once; the
// next one waits in the backlog until one of them closes.
func TestAPIConnectionCap(t *testing.T) {
	addr := serveTestAPI(t, routingAPI(nil, nil).Handler(), Limits{}, 2)
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	c, r := rawRequest(t, addr, "GET /api/v1/version HTTP/1.1\r\nHost: localhost\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := r.Peek(1); !isTimeout(err) {
		t.Fatalf("a third connection was served while two were open (cap 2): %v", err)
	}
	idle[0].Close()
	if code, _ := readStatus(t, c, r, 5*time.Second); code != http.StatusOK {
		t.Fatalf("after a slot freed: %d", code)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A connection that never sends a request is closed after
// ReadHeaderTimeout; one whose body trickles in, after ReadTimeout.
func TestAPISlowClientsAreCut(t *testing.T) {
	a := routingAPI(make(chan struct{}), func() {})
	lim := Limits{readHeaderTimeout: 200 * time.Millisecond, readTimeout: 400 * time.Millisecond}
	addr := serveTestAPI(t, a.Handler(), lim, 8)

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: %v, want EOF (closed by the server)", err)
	}

	c, r := rawRequest(t, addr, "POST /api/v1/shutdown HTTP/1.1\r\nHost: localhost\r\n"+
		"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	code, body := readStatus(t, c, r, 5*time.Second)
	if code != http.StatusBadRequest || !strings.Contains(body, "timeout") {
		t.Errorf("trickling body: %d %s, want 400 with a timeout", code, body)
	}
}

// ReadTimeout bounds reading a request, not serving it: a shutdown that
// takes longer is still answered, and a log follow keeps streaming (the
// server lifts the deadline once the request is read; this holds it to
// that).
func TestAPIReadTimeoutSparesLongRequests(t *testing.T) {
	stopped := make(chan struct{})
	a := routingAPI(stopped, func() {})
	path := filepath.Join(t.TempDir(), "app.log")
	mux := http.NewServeMux()
	mux.Handle("/", a.Handler())
	mux.HandleFunc("GET /follow", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		a.followLog(w, r, path, nil)
	})
	addr := serveTestAPI(t, mux, Limits{readHeaderTimeout: 100 * time.Millisecond, readTimeout: 200 * time.Millisecond}, 8)

	sc, sr := rawRequest(t, addr, "POST /api/v1/shutdown HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	fc, fr := rawRequest(t, addr, "GET /follow HTTP/1.1\r\nHost: localhost\r\n\r\n")
	fc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(fr, nil) // its body is closed with fc: Close would drain it
	if err != nil {
		t.Fatal(err)
	}

	<-time.After(600 * time.Millisecond) // three read timeouts pass: the passing of time is what is tested
	close(stopped)
	if code, body := readStatus(t, sc, sr, 5*time.Second); code != http.StatusOK || !strings.Contains(body, "stopped") {
		t.Errorf("shutdown after the read timeout: %d %q", code, body)
	}
	if err := os.WriteFile(path, []byte("still here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, "still here") {
		t.Errorf("follow after the read timeout: %q, %v", line, err)
	}
}

func TestAPIConnCap(t *testing.T) {
	cases := []struct {
		configured int
		nofile     uint64
		want       int
	}{
		{256, 1 << 20, 256}, // a raised limit: the configured cap
		{256, 1024, 64},     // 1/16 of a default soft limit
		{10, 1024, 10},
		{256, 32, 4}, // a tiny limit: at least 4
		{0, 1 << 20, 256},
	}
	for _, tc := range cases {
		if got := ConnCap(tc.configured, tc.nofile); got != tc.want {
			t.Errorf("ConnCap(%d, %d) = %d, want %d", tc.configured, tc.nofile, got, tc.want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
