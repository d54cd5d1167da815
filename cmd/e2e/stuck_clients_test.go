package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
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
			waitFor(e.t, 10*time.Second, "the crash to be noticed", func() bool { return !hasPID(e.instances(name), pid) })
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
				nonReadingClients(t, a.addr, 100, 200<<10)
			}
			for _, a := range []app{capped, open} {
				waitFor(t, 20*time.Second, a.name+": 100 connections open", func() bool { return e.connsOpen(a.name) == 100 })
			}
			if echoes(capped.addr) == nil {
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
				waitFor(t, 10*time.Second, a.name+": connections released", func() bool { return e.connsOpen(a.name) == 0 })
			}
			t.Logf("200 stuck connections released %v after the operation returned", time.Since(start).Round(time.Millisecond))
			if tc.name == "stop" {
				e.mustCtl(0, "start", capped.name)
			}
			waitFor(t, 10*time.Second, "a new client served by the capped app", func() bool { return echoes(capped.addr) == nil })
		})
	}
}

// nonReadingClients connects n clients to addr; each sends size bytes of
// lines and never reads. They are closed at cleanup.
func nonReadingClients(t *testing.T, addr string, n, size int) {
	t.Helper()
	line := []byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqr\n")
	payload := bytes.Repeat(line, size/len(line))
	var wg sync.WaitGroup
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() { // blocks once the windows are full; ends when closed
			defer wg.Done()
			c.SetWriteDeadline(time.Now().Add(2 * time.Minute))
			c.Write(payload)
		}()
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	})
}

// echoes reports whether a new client at addr gets a line echoed.
func echoes(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintf(c, "ping\n"); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if got != "ping\n" {
		return fmt.Errorf("echoed %q", got)
	}
	return nil
}

// connsOpen is the app's gracevisor_app_connections_open metric.
func (e *env) connsOpen(name string) int {
	e.t.Helper()
	return int(e.scrape()["gracevisor_app_connections_open{app="+strconv.Quote(name)+"}"])
}
