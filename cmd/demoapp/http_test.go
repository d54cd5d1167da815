package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// get does one GET on a fresh connection and returns status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: waitTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

var identityRE = regexp.MustCompile(`^pid=(\d+) started=(\S+) port=(\d+) client=(\S+)\n$`)

func TestHTTPIdentity(t *testing.T) {
	before := time.Now()
	p, addr := startListening(t, "--port", "0")
	code, body := get(t, "http://"+addr+"/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	m := identityRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("GET / body %q does not match %s", body, identityRE)
	}
	if m[1] != strconv.Itoa(p.pid()) {
		t.Errorf("pid = %s, want %d", m[1], p.pid())
	}
	if _, port, _ := net.SplitHostPort(addr); m[3] != port {
		t.Errorf("port = %s, want %s", m[3], port)
	}
	started, err := time.Parse(time.RFC3339Nano, m[2])
	if err != nil {
		t.Fatalf("started %q: %v", m[2], err)
	}
	if started.Before(before.Truncate(time.Second)) || started.After(time.Now()) {
		t.Errorf("started = %v, want between %v and now", started, before)
	}
	if code, _ := get(t, "http://"+addr+"/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}
}

func TestHealthFileFlipsHealth(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "unhealthy")
	_, addr := startListening(t, "--port", "0", "--health-file", flag)
	url := "http://" + addr + "/health"

	if code, body := get(t, url); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthy: GET /health = %d %q, want 200 \"ok\\n\"", code, body)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, url); code != http.StatusServiceUnavailable || !strings.Contains(body, flag) {
		t.Fatalf("flag present: GET /health = %d %q, want 503 naming %s", code, body, flag)
	}
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, url); code != http.StatusOK {
		t.Fatalf("flag removed: GET /health = %d, want 200", code)
	}
}

func TestSlowRejectsBadMs(t *testing.T) {
	_, addr := startListening(t, "--port", "0")
	for _, q := range []string{"", "?ms=x", "?ms=-1"} {
		if code, _ := get(t, "http://"+addr+"/slow"+q); code != http.StatusBadRequest {
			t.Errorf("GET /slow%s = %d, want 400", q, code)
		}
	}
	if code, body := get(t, "http://"+addr+"/slow?ms=1"); code != http.StatusOK || !identityRE.MatchString(body) {
		t.Errorf("GET /slow?ms=1 = %d %q, want 200 and the identity line", code, body)
	}
}

// TestWorkSpendsCPU: /work?n=N answers the identity line after spending
// CPU in the process, not sleeping.
func TestWorkSpendsCPU(t *testing.T) {
	p, addr := startListening(t, "--port", "0")
	for _, q := range []string{"", "?n=x", "?n=-1", "?n=1000001"} {
		if code, _ := get(t, "http://"+addr+"/work"+q); code != http.StatusBadRequest {
			t.Errorf("GET /work%s = %d, want 400", q, code)
		}
	}
	before := cpuTicks(t, p.pid())
	code, body := get(t, "http://"+addr+"/work?n=2000")
	first, rest, _ := strings.Cut(body, "\n")
	if code != http.StatusOK || !identityRE.MatchString(first+"\n") || !strings.HasPrefix(rest, "worked n=2000: ") {
		t.Fatalf("GET /work?n=2000 = %d %q, want 200, the identity line and \"worked n=2000\"", code, body)
	}
	// Two million SHA-256 rounds take hundreds of ms of CPU; clock ticks
	// are 10 ms.
	if used := cpuTicks(t, p.pid()) - before; used < 10 {
		t.Fatalf("GET /work?n=2000 used %d clock ticks of CPU, want at least 10", used)
	}
}

// cpuTicks is pid's user and system CPU time in clock ticks (/proc/PID/stat).
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, _ := strconv.Atoi(fields[11]) // fields 14 and 15 of the line, counted after the name
	stime, _ := strconv.Atoi(fields[12])
	return utime + stime
}

// rawConn is a client connection that speaks HTTP/1.1 by hand, so the test
// controls keep-alive and sees exactly when the server closes.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, r := dialEcho(t, addr)
	return &rawConn{Conn: c, r: r}
}

func (c *rawConn) send(t *testing.T, path string) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: demo\r\n\r\n", path); err != nil {
		t.Fatalf("send %s: %v", path, err)
	}
}

func (c *rawConn) receive(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, string(body)
}

// waitInflight polls /inflight until it reports n.
func waitInflight(t *testing.T, addr string, n int) {
	t.Helper()
	want := strconv.Itoa(n) + "\n"
	if !testutil.WaitFor(waitTimeout, func() bool { _, body := get(t, "http://"+addr+"/inflight"); return body == want }) {
		t.Fatalf("/inflight never reached %d", n)
	}
}

// On SIGTERM an idle keep-alive connection is closed at once, an in-flight
// request still gets its full answer, and demoapp exits 0.
func TestSIGTERMIsGraceful(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p, addr := startListening(t, "--port", "0")
			idle := dialRaw(t, addr)
			idle.send(t, "/")
			if code, _ := idle.receive(t); code != http.StatusOK {
				t.Fatalf("GET / = %d", code)
			}
			busy := dialRaw(t, addr)
			busy.send(t, "/slow?ms=1000")
			waitInflight(t, addr, 1)

			p.signal(t, sig)
			if n, err := idle.r.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("idle keep-alive connection: read = %d, %v; want EOF", n, err)
			}
			if !p.running() {
				t.Fatal("demoapp exited before its in-flight request finished")
			}
			if code, body := busy.receive(t); code != http.StatusOK || !identityRE.MatchString(body) {
				t.Fatalf("in-flight /slow = %d %q, want 200 and the identity line", code, body)
			}
			if code := p.exitCode(t); code != 0 {
				t.Fatalf("exit code = %d, want 0", code)
			}
			p.stdout.waitFor(t, "stopping")
			p.stdout.waitFor(t, "stopped")
		})
	}
}

func TestGraceExceededClosesAndExits1(t *testing.T) {
	p, addr := startListening(t, "--port", "0", "--grace", "200ms")
	busy := dialRaw(t, addr)
	busy.send(t, "/slow?ms=60000")
	waitInflight(t, addr, 1)

	p.signal(t, syscall.SIGTERM)
	if code := p.exitCode(t); code != 1 {
		t.Fatalf("exit code = %d, want 1", code)
	}
	if _, err := http.ReadResponse(busy.r, nil); err == nil {
		t.Fatal("the cut-off request got a response")
	}
	p.stderr.waitFor(t, "grace 200ms exceeded")
}

// TestSick: POST /sick makes this process, and only it, fail /health.
func TestSick(t *testing.T) {
	h := newHandler(identity{pid: 42}, "")
	get := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	if code := get("/health"); code != 200 {
		t.Fatalf("healthy: %d", code)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/sick", nil))
	if rec.Code != 200 || get("/health") != 503 {
		t.Fatalf("after POST /sick: %d, then /health %d", rec.Code, get("/health"))
	}
	if code := get("/sick"); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /sick: %d, want 405", code)
	}
	other := newHandler(identity{pid: 43}, "") // another instance: its own state
	rec = httptest.NewRecorder()
	other.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
	if rec.Code != 200 {
		t.Fatalf("another instance became sick too: %d", rec.Code)
	}
}
