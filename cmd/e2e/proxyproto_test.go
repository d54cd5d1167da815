package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// needTool returns the path of a program a test drives. Without it the
// test skips, except in CI (CI=true), where .ci/run installs it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/", "/usr/local/sbin/"} {
		if p, err := exec.LookPath(dir + name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and CI=true: .ci/run must apt-get install it", name)
	}
	t.Skipf("%s is not installed (apt-get install -y %s); skipping", name, name)
	return ""
}

// fromAddr is an HTTP client whose connections come from ip (any address
// in 127.0.0.0/8 works on Linux), so a test can tell the true client from
// gracevisor's own connections, which come from 127.0.0.1.
func fromAddr(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil, DialContext: d.DialContext}}
}

// getFrom fetches http://addr/ with c and returns the status and body.
func getFrom(c *http.Client, addr string) (int, string, error) {
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// nginxConf is an nginx that requires the PROXY header on its listener and
// logs, and answers, the client the header names. @PORT@ is the internal
// port; it runs in the foreground as one process.
const nginxConf = `daemon off;
master_process off;
pid @DIR@/@NAME@-@PORT@.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
    log_format pp 'pp=$proxy_protocol_addr:$proxy_protocol_port remote=$remote_addr "$request" $status';
    access_log @DIR@/@NAME@-access.log pp;
    client_body_temp_path @DIR@/tmp-@NAME@-@PORT@;
    proxy_temp_path @DIR@/tmp-@NAME@-@PORT@;
    fastcgi_temp_path @DIR@/tmp-@NAME@-@PORT@;
    uwsgi_temp_path @DIR@/tmp-@NAME@-@PORT@;
    scgi_temp_path @DIR@/tmp-@NAME@-@PORT@;
    server {
        listen 127.0.0.1:@PORT@ proxy_protocol;
        location = /health { return 200 "ok\n"; }
        location / { return 200 "client=$proxy_protocol_addr:$proxy_protocol_port\n"; }
    }
}
`

// nginxApp is an app running nginx with nginxConf, sent headers of version v.
func nginxApp(e *env, nginx, name, v string) app {
	tmpl := filepath.Join(e.dir, name+".conf.in")
	conf := strings.NewReplacer("@DIR@", e.dir, "@NAME@", name).Replace(nginxConf)
	e.writeFile(name+".conf.in", conf)
	out := filepath.Join(e.dir, name+"-{port}.conf")
	a := e.newApp(name, "")
	a.extra = fmt.Sprintf(`command: /bin/sh -c "sed s/@PORT@/{port}/g %s > %s && exec %s -e stderr -p %s -c %s"
stop_signal: QUIT
proxy_protocol: %s
healthcheck_proxy_protocol: true`, tmpl, out, nginx, e.dir, out, v)
	return a
}

// TestProxyProtocolReachesNginx: with proxy_protocol v1 or v2, a real nginx
// (listen … proxy_protocol) sees the true client — here 127.0.0.7 and its
// port — in $proxy_protocol_addr, while the connection itself comes from
// gracevisor; its readiness and health probes carry the header too
// (healthcheck_proxy_protocol), or nginx would reject them. A plain app
// next to them still gets the client's bytes only. The header survives a
// reload.
func TestProxyProtocolReachesNginx(t *testing.T) {
	nginx := needTool(t, "nginx")
	e := newEnv(t)
	v1, v2 := nginxApp(e, nginx, "nginx1", "v1"), nginxApp(e, nginx, "nginx2", "v2")
	plain := e.newApp("plain", "")
	e.writeConfig(v1, v2, plain)
	d := e.start()
	for _, a := range []app{v1, v2, plain} {
		testutil.Eventually(t, 20*time.Second, a.name+" serving", func() bool { return e.status()[a.name].State == "RUNNING" })
	}
	client := fromAddr("127.0.0.7")
	check := func(a app) {
		t.Helper()
		c, err := client.Transport.(*http.Transport).DialContext(context.Background(), "tcp", a.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		src := c.LocalAddr().String()
		io.WriteString(c, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		if !strings.HasSuffix(string(b), "\r\n\r\nclient="+src+"\n") {
			t.Fatalf("%s: answer %q, want client=%s (the true client)", a.name, b, src)
		}
		logFile := filepath.Join(e.dir, a.name+"-access.log")
		want := fmt.Sprintf(`pp=%s remote=127.0.0.1 "GET / HTTP/1.0" 200`, src)
		testutil.Eventually(t, 5*time.Second, "nginx's access log line "+want, func() bool {
			log, _ := os.ReadFile(logFile)
			return strings.Contains(string(log), want)
		})
	}
	check(v1)
	check(v2)
	code, body, err := getFrom(client, plain.addr)
	if err != nil || code != 200 || !strings.Contains(body, " client=127.0.0.1:") {
		t.Fatalf("plain app: %d %q %v; want an answer to gracevisor's connection", code, body, err)
	}
	e.mustCtl(0, "reload", "nginx2")
	check(v2)
	if strings.Contains(d.output.String(), "PROXY header rejected") {
		t.Errorf("a header was rejected:\n%s", d.output)
	}
}
