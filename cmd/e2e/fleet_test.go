package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// fleetHost is one gracevisord "host" of the fleet test: its own loopback
// address, config dir and daemon.
type fleetHost struct {
	ip string
	e  *env
	d  *upDaemon
}

// startFleetHost runs gracevisord on ip with the app "web": demoapp behind
// accept_proxy_protocol (trusting the balancer on 127.0.0.1) and
// proxy_protocol v2, printing an access log line per request.
func startFleetHost(t *testing.T, ip string, appPort, apiPort int) *fleetHost {
	e := newEnv(t)
	e.rpc = net.JoinHostPort(ip, strconv.Itoa(apiPort))
	e.rpcYAML = fmt.Sprintf("host: %s, port: %d", ip, apiPort)
	web := app{name: "web", addr: net.JoinHostPort(ip, strconv.Itoa(appPort))}
	web.extra = strings.Join([]string{
		fmt.Sprintf("command: %s --host=%s --port={port} --grace=2s --proxy-protocol --access-log", binDemo, ip),
		"internal_host: " + ip,
		"external_host: " + ip,
		"proxy_protocol: v2",
		"healthcheck_proxy_protocol: true",
		"accept_proxy_protocol: true",
		"trusted_proxies: [127.0.0.1/32]",
		"proxy_header_timeout: 1",
	}, "\n")
	e.writeConfig(web)
	return &fleetHost{ip: ip, e: e, d: e.spawnUpgradable()}
}

// accessLog is the web app's stdout log on h.
func (h *fleetHost) accessLog(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(h.e.dir, "log", "app_web.out"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startHAProxy runs HAProxy with scripts/fleet/haproxy.cfg in the
// foreground, the addresses given in its environment.
func startHAProxy(t *testing.T, haproxy, front string, hosts []*fleetHost, appPort, apiPort int) {
	cfg := filepath.Join(repoRoot(t), "scripts/fleet/haproxy.cfg")
	cmd := exec.Command(haproxy, "-db", "-f", cfg)
	cmd.Env = append(os.Environ(), "FLEET_FRONT="+front, "FLEET_HOST1="+hosts[0].ip, "FLEET_HOST2="+hosts[1].ip,
		"FLEET_APP_PORT="+strconv.Itoa(appPort), "FLEET_API_PORT="+strconv.Itoa(apiPort))
	out := &testutil.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("haproxy output:\n%s", out)
		}
	})
}

// runRollingDeploy runs scripts/fleet/rolling-deploy.sh with args against
// the hosts and fails the test unless it exits 0.
func runRollingDeploy(t *testing.T, hosts []*fleetHost, args ...string) string {
	t.Helper()
	script := filepath.Join(repoRoot(t), "scripts/fleet/rolling-deploy.sh")
	for _, h := range hosts {
		args = append(args, h.e.rpc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Env = append(os.Environ(), "GRACEVISORCTL="+binCtl, "HEALTH_TIMEOUT=30")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("rolling-deploy.sh %q: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestFleetRollingDeployBehindHAProxy is docs/fleet.md's recipe, run: a
// real HAProxy (mode tcp, send-proxy-v2, httpchk GET /healthz on each
// daemon's control API) in front of two gracevisord "hosts" on 127.0.0.2
// and 127.0.0.3, and scripts/fleet/rolling-deploy.sh reloading, then
// upgrading, one host at a time while 16 clients (from 127.0.0.9) send
// requests nonstop: not one request may fail, both hosts must serve, and
// every request in the app's access log must name the true client
// 127.0.0.9. Then clients that skip the balancer are turned away: an
// untrusted source, a trusted one without a header, one that says nothing.
func TestFleetRollingDeployBehindHAProxy(t *testing.T) {
	haproxy := needTool(t, "haproxy")
	needTool(t, "curl")
	const clientIP = "127.0.0.9"
	appPort, apiPort := portOf(t, testutil.FreeAddr(t)), portOf(t, testutil.FreeAddr(t))
	hosts := []*fleetHost{startFleetHost(t, "127.0.0.2", appPort, apiPort), startFleetHost(t, "127.0.0.3", appPort, apiPort)}
	front := testutil.FreeAddr(t)
	startHAProxy(t, haproxy, front, hosts, appPort, apiPort)

	client := fromAddr(clientIP)
	testutil.Eventually(t, 20*time.Second, "the balancer to serve", func() bool {
		code, _, err := getFrom(client, front)
		return err == nil && code == 200
	})
	time.Sleep(1500 * time.Millisecond) // both hosts pass rise 2 × inter 500ms

	stats := &loadStats{pids: map[int]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	const clients = 16
	for range clients {
		wg.Add(1)
		go fleetClient(ctx, t, &wg, client, front, stats)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
	}
	defer stop()
	testutil.Eventually(t, 10*time.Second, "load to flow", func() bool { return stats.okCount() >= clients })

	t.Log(runRollingDeploy(t, hosts, "--settle", "1.5"))
	t.Log(runRollingDeploy(t, hosts, "--upgrade", "--settle", "1.5"))
	time.Sleep(500 * time.Millisecond)
	stop()

	t.Logf("%d requests through HAProxy during a rolling reload and a rolling upgrade, %d failed, %d app instances answered",
		stats.ok+stats.failed, stats.failed, len(stats.pids))
	if stats.failed > 0 {
		t.Fatalf("%d of %d requests failed: %v", stats.failed, stats.ok+stats.failed, stats.errs)
	}
	// 2 hosts × (first + reloaded + upgraded) instances; at least both hosts' first ones.
	if len(stats.pids) < 4 {
		t.Errorf("only %d app instances answered; want instances of both hosts, before and after", len(stats.pids))
	}
	access := regexp.MustCompile(`access client=(\S+) method=GET path=/ status=200`)
	for _, h := range hosts {
		lines := access.FindAllStringSubmatch(h.accessLog(t), -1)
		if len(lines) == 0 {
			t.Errorf("%s: the app logged no request", h.ip)
		}
		for _, m := range lines {
			if !strings.HasPrefix(m[1], clientIP+":") {
				t.Fatalf("%s: the app saw client %s, want the true client %s", h.ip, m[1], clientIP)
			}
		}
		t.Logf("%s: %d requests in the app's access log, all from %s", h.ip, len(lines), clientIP)
	}

	// Clients that skip the balancer never reach the app.
	h := hosts[0]
	before := len(access.FindAllString(h.accessLog(t), -1))
	direct := net.JoinHostPort(h.ip, strconv.Itoa(appPort))
	if code, body, err := getFrom(fromAddr(clientIP), direct); err == nil {
		t.Errorf("untrusted source: got %d %q, want the connection closed", code, body)
	}
	if code, body, err := getFrom(fromAddr("127.0.0.1"), direct); err == nil {
		t.Errorf("trusted source without a header: got %d %q, want the connection closed", code, body)
	}
	silent := testutil.Dial(t, direct)
	start := time.Now()
	silent.SetReadDeadline(start.Add(10 * time.Second))
	if _, err := bufio.NewReader(silent).ReadByte(); err != io.EOF && !isReset(err) {
		t.Errorf("silent client: %v, want closed after proxy_header_timeout", err)
	} else if d := time.Since(start); d < 800*time.Millisecond || d > 5*time.Second {
		t.Errorf("silent client closed after %v, want about 1s (proxy_header_timeout)", d)
	}
	if after := len(access.FindAllString(h.accessLog(t), -1)); after != before {
		t.Errorf("a client that skipped the balancer reached the app: %d access lines, were %d", after, before)
	}
	_, metrics, err := get(h.e.rpc, "/metrics")
	if err != nil || !strings.Contains(metrics, `gracevisor_app_proxy_header_rejected_total{app="web"} 3`) {
		t.Errorf("metrics (%v) do not count 3 rejected headers:\n%s", err, grepLines(metrics, "proxy_header"))
	}
}

// fleetClient sends requests through the balancer with c until ctx is done.
func fleetClient(ctx context.Context, t *testing.T, wg *sync.WaitGroup, c *http.Client, front string, s *loadStats) {
	defer wg.Done()
	for ctx.Err() == nil {
		code, body, err := getFrom(c, front)
		s.record(t, code, body, err)
	}
}

// isReset reports a connection reset by the peer.
func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
