package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/procs"
)

// TestSystemdNotifications: with NOTIFY_SOCKET set, gracevisord sends
// READY=1 once its API answers, RELOADING=1 … READY=1 around a SIGHUP
// update, and STOPPING=1 on SIGTERM.
func TestSystemdNotifications(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(e.newApp("web", ""))
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	read := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
	d := e.spawnWith("NOTIFY_SOCKET=" + sock)
	if got := read(); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	if r := e.ctl("version"); r.code != 0 { // READY=1 means the API is up
		t.Errorf("API after READY=1: %v", r)
	}
	d.signal(syscall.SIGHUP)
	if got := read(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("on SIGHUP: %q", got)
	}
	if got := read(); got != "READY=1" {
		t.Errorf("after the update: %q", got)
	}
	d.signal(syscall.SIGTERM)
	if got := read(); got != "STOPPING=1" {
		t.Errorf("on SIGTERM: %q", got)
	}
	if code := d.waitExit(30 * time.Second); code != 0 {
		t.Errorf("exit %d:\n%s", code, d.output)
	}
}

// TestMetricsStatsdAndAlertsAfterAKnownSequence: start, 10 requests, a
// reload, a failed reload (update to a command that fails), a good update,
// a health failure; then /metrics, the statsd lines, the webhook and the
// command hook must all tell that story.
func TestMetricsStatsdAndAlertsAfterAKnownSequence(t *testing.T) {
	e := newEnv(t)
	hook := newHookReceiver(t)
	statsd := newStatsdReceiver(t)
	hookFile := filepath.Join(t.TempDir(), "events.jsonl")
	healthFile := filepath.Join(t.TempDir(), "unhealthy")
	ops := fmt.Sprintf("statsd: {address: %q, prefix: gv, interval: 200ms}\n"+
		"alerts:\n  command: sh -c 'cat >> \"$1\"' hook %s\n  webhook: {url: %q, timeout: 2, retries: 2}\n",
		statsd.pc.LocalAddr().String(), hookFile, hook.url)
	web := e.newApp("web", "--health-file="+healthFile)
	web.extra = "max_retries: 1\nhealthcheck_interval: 200ms\nhealthcheck_failures: 2"
	e.writeConfigWith(ops, web)
	e.start()

	const requests = 10
	for i := range requests {
		if code, _, err := get(web.addr, "/"); err != nil || code != 200 {
			t.Fatalf("request %d: %d %v", i, code, err)
		}
	}
	e.mustCtl(0, "reload", "web")
	failing := web
	failing.args += " --fail-start"
	e.writeConfigWith(ops, failing)
	e.mustCtl(1, "update") // the changed app's reload fails; the old instance serves on
	e.writeConfigWith(ops, web)
	e.mustCtl(0, "update")
	if err := os.WriteFile(healthFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "the unhealthy instance", func() bool {
		return e.scrape()[`gracevisor_app_unhealthy_total{app="web"}`] == 1
	})
	os.Remove(healthFile) // the replacement becomes ready
	want := []procs.EventKind{procs.EventReloadOK, procs.EventReloadFailed, procs.EventReloadOK, procs.EventUnhealthy, procs.EventRecovered}
	testutil.Eventually(t, 20*time.Second, "the webhook events", func() bool { return len(hook.kinds()) >= len(want) })

	m := e.scrape()
	for name, v := range map[string]float64{
		`gracevisor_app_state{app="web",state="RUNNING"}`:                    1,
		`gracevisor_app_state{app="web",state="FATAL"}`:                      0,
		`gracevisor_app_instances{app="web",state="SERVING"}`:                1,
		`gracevisor_app_connections_accepted_total{app="web"}`:               requests,
		`gracevisor_app_connections_failed_total{app="web"}`:                 0,
		`gracevisor_app_connections_open{app="web"}`:                         0,
		`gracevisor_app_reloads_total{app="web",outcome="ok"}`:               3, // reload, good update, health replacement
		`gracevisor_app_reloads_total{app="web",outcome="failed"}`:           1,
		`gracevisor_app_reload_duration_seconds_count{app="web"}`:            3,
		`gracevisor_app_reload_duration_seconds_bucket{app="web",le="+Inf"}`: 3,
		`gracevisor_app_unhealthy_total{app="web"}`:                          1,
		`gracevisor_app_crashes_total{app="web"}`:                            0,
		`gracevisor_app_restarts_total{app="web"}`:                           0,
		`gracevisor_app_instances_adopted_total{app="web"}`:                  3,
	} {
		if got, ok := m[name]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
	for _, name := range []string{`gracevisor_app_bytes_total{app="web",direction="in"}`, `gracevisor_app_bytes_total{app="web",direction="out"}`,
		`gracevisor_app_healthcheck_failures_total{app="web"}`, "go_goroutines", "process_open_fds", `gracevisor_alerts_total{hook="webhook",outcome="ok"}`} {
		if m[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, m[name])
		}
	}

	if b := buildInfo(m); !strings.Contains(b, `version="e2e-test"`) || !strings.Contains(b, `goversion="go`) {
		t.Errorf("build info %q", b)
	}
	if got := hook.kinds(); !slices.Equal(got, want) {
		t.Errorf("webhook events %v, want %v", got, want)
	}
	testutil.Eventually(t, 10*time.Second, "the command hook's events", func() bool { return len(eventsInFile(t, hookFile)) >= len(want) })
	if got := kindsBySeq(eventsInFile(t, hookFile)); !slices.Equal(got, want) {
		t.Errorf("command hook events %v, want %v", got, want)
	}

	testutil.Eventually(t, 10*time.Second, "statsd totals", func() bool {
		return statsd.sum("gv.app.web.connections.accepted") == requests && statsd.sum("gv.app.web.reloads.ok") == 3 &&
			statsd.sum("gv.app.web.reloads.failed") == 1 && statsd.sum("gv.app.web.unhealthy") == 1
	})
	if v := statsd.last("gv.app.web.state.RUNNING"); v != "1|g" {
		t.Errorf("statsd state gauge %q", v)
	}
}

// buildInfo is the gracevisor_build_info sample, or "".
func buildInfo(m map[string]float64) string {
	for name, v := range m {
		if strings.HasPrefix(name, "gracevisor_build_info{") && v == 1 {
			return name
		}
	}
	return ""
}

// TestHangingAlertHookDoesNotBlockReloads: a hook that never returns
// delays neither reloads nor a crash restart, and shutdown kills it.
func TestHangingAlertHookDoesNotBlockReloads(t *testing.T) {
	e := newEnv(t)
	marker := fmt.Sprintf("%d.%d", 600+os.Getpid()%100, time.Now().UnixNano()%1000) // a unique sleep time
	web := e.newApp("web", "")
	e.writeConfigWith("alerts: {command: sleep "+marker+", command_timeout: 10m}\n", web)
	d := e.start()
	begin := time.Now()
	const reloads = 12 // more events than delivery slots
	for range reloads {
		e.mustCtl(0, "reload", "web")
	}
	perReload := time.Since(begin) / reloads
	if perReload > 5*time.Second {
		t.Errorf("reloads took %s each with a hanging hook", perReload)
	}
	testutil.Eventually(t, 10*time.Second, "8 hook commands (the parallel limit)", func() bool { return len(pidsWith("sleep\x00"+marker)) == 8 })
	d.signal(syscall.SIGTERM)
	if code := d.waitExit(30 * time.Second); code != 0 {
		t.Errorf("exit %d:\n%s", code, d.output)
	}
	waitGone(t, "sleep\x00"+marker, 5*time.Second)
	if !strings.Contains(d.output.String(), "alert hooks still running at shutdown") {
		t.Errorf("no warning about the hanging hooks:\n%s", d.output)
	}
}
