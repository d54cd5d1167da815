package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

const e2eToken = "e2e-token-6f1c2a9b8d7e4f30a1b2c3d4"

// withToken makes the env's daemon require a token and gives gracevisorctl
// the token file through the config (via --conf) — tests pick how.
func (e *env) withToken() string {
	e.t.Helper()
	tok := filepath.Join(e.dir, "token")
	if err := os.WriteFile(tok, []byte(e2eToken+"\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	e.rpcYAML = fmt.Sprintf("host: 127.0.0.1, port: %d, token_file: %s", portOf(e.t, e.rpc), tok)
	e.ctlFlags = []string{"--token-file", tok}
	return tok
}

// raw sends one request to the control API over TCP and returns the status
// and body.
func (e *env) raw(method, path, host, token, ctype, body string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, "http://"+e.rpc+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := oneShot.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTokenAndRequestRules drives every refusal against a real daemon.
func TestTokenAndRequestRules(t *testing.T) {
	e := newEnv(t)
	tok := e.withToken()
	web := e.newApp("web", "")
	e.writeConfig(web)
	d := e.start()
	pid := e.servingPID("web")

	const js = "application/json"
	cases := []struct {
		name                             string
		method, path, host, token, ctype string
		body                             string
		code                             int
		msg                              string
	}{
		{"no token", "GET", "/api/v1/status", "", "", "", "", 401, "missing token"},
		{"wrong token", "GET", "/api/v1/status", "", "wrong-token-wrong-token", "", "", 401, "wrong token"},
		{"no token, reload", "POST", "/api/v1/apps/web/reload", "", "", js, "{}", 401, "missing token"},
		{"GET on a mutating endpoint", "GET", "/api/v1/apps/web/reload", "", e2eToken, "", "", 405, "method not allowed"},
		{"form-encoded POST", "POST", "/api/v1/apps/web/reload", "", e2eToken, "application/x-www-form-urlencoded", "x=1", 415, "application/json"},
		{"text/plain POST", "POST", "/api/v1/shutdown", "", e2eToken, "text/plain", "{}", 415, "application/json"},
		{"a command in the body", "POST", "/api/v1/apps/web/restart", "", e2eToken, js, `{"command":"sh -c id"}`, 400, "takes no parameters"},
		{"foreign Host", "GET", "/api/v1/status", "attacker.example:9001", e2eToken, "", "", 403, "not a loopback name"},
		{"foreign Host, page", "GET", "/", "attacker.example", "", "", "", 403, "not a loopback name"},
		{"right token", "GET", "/api/v1/status", "", e2eToken, "", "", 200, `"name": "web"`},
		{"page without token", "GET", "/", "localhost", "", "", "", 200, "<title>gracevisor</title>"},
	}
	for _, tc := range cases {
		code, body := e.raw(tc.method, tc.path, tc.host, tc.token, tc.ctype, tc.body)
		if code != tc.code || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, code, body, tc.code, tc.msg)
		}
	}
	if got := e.servingPID("web"); got != pid {
		t.Fatalf("a refused request changed the app: pid %d → %d", pid, got)
	}

	// gracevisorctl: without the token it is told why (exit 2); with
	// --token-file, or with --conf naming the token_file, it works.
	r := runCtl(t, "--conf", t.TempDir(), "--rpc", e.rpc, "status") // not the machine's config
	if r.code != 2 || !strings.Contains(r.stderr, "missing token") || !strings.Contains(r.stderr, "--token-file") {
		t.Errorf("ctl without token: %v", r)
	}
	e.mustCtl(0, "reload", "web")
	if r := runCtl(t, "--conf", e.dir, "status", "web"); r.code != 0 {
		t.Errorf("ctl with the config's token_file (%s): %v", tok, r)
	}

	// The accepted reload is logged with who asked; the refusals are too.
	out := d.output.String()
	for _, re := range []string{
		`msg="api request" daemon_pid=\d+ method=POST path=/api/v1/apps/web/reload from=127\.0\.0\.1:\d+`,
		`msg="api request done" daemon_pid=\d+ method=POST path=/api/v1/apps/web/reload from=127\.0\.0\.1:\d+ status=200`,
		`msg="api request refused" daemon_pid=\d+ method=GET path=/api/v1/status from=127\.0\.0\.1:\d+ status=401 reason="wrong token"`,
		`msg="api request refused" daemon_pid=\d+ method=POST path=/api/v1/apps/web/reload from=127\.0\.0\.1:\d+ status=415`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("daemon log lacks /%s/:\n%s", re, out)
		}
	}
}

// TestExposedAPIRefused: a non-loopback bind without a token does not
// start, says why, and starts no app.
func TestExposedAPIRefused(t *testing.T) {
	e := newEnv(t)
	e.rpcYAML = fmt.Sprintf("host: 0.0.0.0, port: %d", portOf(t, e.rpc))
	web := e.newApp("web", "")
	e.writeConfig(web)
	d := e.spawn()
	if code := d.waitExit(30 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, d.output)
	}
	if out := d.output.String(); !strings.Contains(out, `rpc.host \"0.0.0.0\" is not a loopback address and rpc.token_file is not set`) &&
		!strings.Contains(out, `rpc.host "0.0.0.0" is not a loopback address and rpc.token_file is not set`) {
		t.Fatalf("no reason given:\n%s", out)
	}
	if !testutil.Refused(web.addr) || !testutil.Refused(e.rpc) {
		t.Fatal("something was started")
	}
}

// TestUnixSocket serves the API only on a unix socket: mode 0600, the
// configured owner, gracevisorctl over --rpc unix:, requests logged with
// the caller's uid, and the socket removed at shutdown.
func TestUnixSocket(t *testing.T) {
	e := newEnv(t)
	sock := filepath.Join(e.dir, "run", "gv.sock")
	owner, wantUID := "", os.Getuid()
	if os.Getuid() == 0 {
		if u, err := user.Lookup("nobody"); err == nil {
			owner = ", socket_owner: nobody"
			fmt.Sscan(u.Uid, &wantUID)
		}
	}
	e.rpcYAML = "port: 0, socket: " + sock + owner
	e.rpc = "unix:" + sock
	web := e.newApp("web", "")
	e.writeConfig(web)
	d := e.start()

	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 || int(st.Uid) != wantUID {
		t.Fatalf("socket %v uid %d, want a 0600 socket owned by %d", fi.Mode(), st.Uid, wantUID)
	}
	old := e.servingPID("web")
	e.mustCtl(0, "reload", "web")
	if e.servingPID("web") == old {
		t.Fatal("reload over the socket did not change the pid")
	}
	// gracevisorctl finds the socket through the config too.
	if r := runCtl(t, "--conf", e.dir, "status"); r.code != 0 {
		t.Fatalf("ctl --conf: %v", r)
	}
	// curl --unix-socket: no token, any Host; still POST + JSON only.
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Post("http://whatever/api/v1/apps/web/restart", "application/x-www-form-urlencoded", strings.NewReader("a=1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("form POST over the socket: %d, want 415", resp.StatusCode)
	}
	if !regexp.MustCompile(fmt.Sprintf(`msg="api request" daemon_pid=\d+ method=POST path=/api/v1/apps/web/reload from="uid=%d pid=\d+"`, os.Getuid())).MatchString(d.output.String()) {
		t.Errorf("reload not logged with the peer's uid:\n%s", d.output)
	}
	e.mustCtl(0, "shutdown")
	if code := d.waitExit(30 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind after shutdown: %v", err)
	}
}
