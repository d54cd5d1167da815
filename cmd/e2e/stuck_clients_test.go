package e2e

import (
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// TestNonReadingClientsReleaseSlots is issue 18's repro, end to end: 100
// clients each send 200 KB of lines to an echo app and never read, so both
// directions of every link block. Whatever ends the instance they are on
// (restart, reload past drain_timeout, stop, a crash) must release their
// connections at once: connections_open returns to 0, and the app with
// max_connections: 100 serves new clients again (before the fix every new
// client was closed at once, for as long as those clients stayed).
func TestNonReadingClientsReleaseSlots(t *testing.T) {
	cases := []struct {
		name string
		end  func(e *env, name string)
	}{
		{"restart", func(e *env, name string) { e.mustCtl(0, "restart", name) }},
		{"reload past drain_timeout", func(e *env, name string) { e.mustCtl(0, "reload", name) }},
		{"stop", func(e *env, name string) { e.mustCtl(0, "stop", name) }},
		{"crash", func(e *env, name string) {
			pid := e.servingPID(name)
			syscall.Kill(pid, syscall.SIGKILL)
			testutil.Eventually(e.t, 10*time.Second, "the crash to be noticed", func() bool { return !hasPID(e.instances(name), pid) })
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			capped := e.newApp("capped", "--echo")
			capped.extra = "healthcheck: \"\"\ndrain_timeout: 1\nmax_connections: 100"
			open := e.newApp("open", "--echo")
			open.extra = "healthcheck: \"\"\ndrain_timeout: 1"
			e.writeConfig(capped, open)
			e.start()
			for _, a := range []app{capped, open} {
				testutil.StuckClients(t, a.addr, 100, 200<<10)
			}
			for _, a := range []app{capped, open} {
				testutil.Eventually(t, 20*time.Second, a.name+": 100 connections open", func() bool { return e.connsOpen(a.name) == 100 })
			}
			if testutil.Echoes(capped.addr, 3*time.Second) == nil {
				t.Fatal("a 101st client was served by the app with max_connections: 100")
			}

			var wg sync.WaitGroup
			for _, a := range []app{capped, open} {
				wg.Add(1)
				go func() { defer wg.Done(); tc.end(e, a.name) }()
			}
			wg.Wait()
			start := time.Now()
			for _, a := range []app{capped, open} {
				testutil.Eventually(t, 10*time.Second, a.name+": connections released", func() bool { return e.connsOpen(a.name) == 0 })
			}
			t.Logf("200 stuck connections released %v after the operation returned", time.Since(start).Round(time.Millisecond))
			if tc.name == "stop" {
				e.mustCtl(0, "start", capped.name)
			}
			testutil.Eventually(t, 10*time.Second, "a new client served by the capped app", func() bool { return testutil.Echoes(capped.addr, 3*time.Second) == nil })
		})
	}
}

// connsOpen is the app's gracevisor_app_connections_open metric.
func (e *env) connsOpen(name string) int {
	e.t.Helper()
	return int(e.scrape()["gracevisor_app_connections_open{app="+strconv.Quote(name)+"}"])
}
