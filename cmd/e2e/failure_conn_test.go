package e2e

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/procs"
)

// TestLongLivedConnectionsThroughReloads: an echo client streams a line
// every 50 ms while the app is reloaded 3 times, and a new streaming client
// joins after each reload. Every line comes back, in order; each old
// instance stays DRAINING in status while its client is open, and
// disappears (its process exits) once that client closes.
func TestLongLivedConnectionsThroughReloads(t *testing.T) {
	const reloads = 3
	e := newEnv(t)
	echo := e.echoApp("echo")
	e.writeConfig(echo)
	e.start()

	var clients []*streamer
	var pids []int // pids[i] is the instance clients[i] is connected to
	for i := 0; i <= reloads; i++ {
		pid := e.servingPID("echo")
		c := newStreamer(t, echo.addr)
		testutil.Eventually(t, 10*time.Second, fmt.Sprintf("client %d to count on pid %d", i, pid), func() bool {
			return connsOf(e.instances("echo"), pid) == 1
		})
		clients, pids = append(clients, c), append(pids, pid)
		for _, c := range clients {
			c.waitLines(t, 3)
		}
		if i < reloads {
			e.mustCtl(0, "reload", "echo")
		}
	}

	// pids[0..2] drain with one connection each; pids[3] serves.
	assertDraining(t, e, pids[:reloads], pids[reloads])
	for i := range reloads {
		clients[i].finish(t)
		gone := pids[i]
		testutil.Eventually(t, 15*time.Second, fmt.Sprintf("drained pid %d to leave status and exit", gone), func() bool {
			return !hasPID(e.instances("echo"), gone) && !testutil.Alive(gone)
		})
		for _, c := range clients[i+1:] {
			c.checkNoError(t)
		}
		assertDraining(t, e, pids[i+1:reloads], pids[reloads])
	}
	last := clients[reloads]
	last.finish(t)
	testutil.Eventually(t, 10*time.Second, "connections to return to 0", func() bool { return e.connections("echo") == 0 })
	for i, c := range clients {
		t.Logf("client %d on pid %d: %d lines echoed in order", i, pids[i], c.got.Load())
	}
}

// assertDraining checks that status shows serving as the SERVING instance
// and each of draining as DRAINING with exactly one connection, and
// nothing else.
func assertDraining(t *testing.T, e *env, draining []int, serving int) {
	t.Helper()
	ins := e.instances("echo")
	if len(ins) != 1+len(draining) || ins[0].PID != serving || ins[0].State != procs.InstServing {
		t.Fatalf("want pid %d SERVING and %v DRAINING, status has %+v", serving, draining, ins)
	}
	for _, pid := range draining {
		found := false
		for _, in := range ins[1:] {
			if in.PID == pid {
				found = true
				if in.State != procs.InstDraining || in.Connections != 1 {
					t.Fatalf("old pid %d: %s with %d connections; want DRAINING with 1: %+v", pid, in.State, in.Connections, ins)
				}
			}
		}
		if !found || !testutil.Alive(pid) {
			t.Fatalf("old pid %d, whose client is open, left status or exited: %+v", pid, ins)
		}
	}
}

func connsOf(ins []procs.InstanceStatus, pid int) int64 {
	for _, in := range ins {
		if in.PID == pid {
			return in.Connections
		}
	}
	return -1
}

func hasPID(ins []procs.InstanceStatus, pid int) bool { return connsOf(ins, pid) >= 0 }

// TestAbortedClientsDoNotHurtOthers: clients that reset their connection
// (SO_LINGER 0) mid-stream — after half a line, while the echo server is
// sending them 256 KiB they do not read, right after connecting, or after
// half an HTTP request — leave the daemon serving everyone else, the apps
// untouched, and the connection counts back where they were.
func TestAbortedClientsDoNotHurtOthers(t *testing.T) {
	const perKind = 5
	e := newEnv(t)
	echo, web := e.echoApp("echo"), e.newApp("web", "")
	e.writeConfig(echo, web)
	e.start()
	before := e.pids()
	steady := newStreamer(t, echo.addr)

	var echoConns []*net.TCPConn
	for range perKind {
		echoConns = append(echoConns, openEchoed(t, echo.addr), openEchoed(t, echo.addr), openEchoed(t, echo.addr))
	}
	var webConns []*net.TCPConn
	for range perKind {
		webConns = append(webConns, openHalfRequest(t, web.addr))
	}
	// Every aborted connection must first be counted, or "back to 0" proves
	// nothing.
	testutil.Eventually(t, 10*time.Second, "every connection to be counted", func() bool {
		return e.connections("echo") == int64(1+len(echoConns)) && e.connections("web") == int64(len(webConns))
	})

	var wg sync.WaitGroup
	for i, c := range echoConns {
		wg.Add(1)
		go abortEcho(&wg, c, i%3)
	}
	for _, c := range webConns {
		abortConn(t, c)
	}
	wg.Wait()

	testutil.Eventually(t, 10*time.Second, "counts to drop to the steady client only", func() bool {
		return e.connections("echo") == 1 && e.connections("web") == 0
	})
	steady.waitLines(t, 5)
	for range 3 {
		pidBehind(t, web.addr)
	}
	fresh := newStreamer(t, echo.addr)
	fresh.waitLines(t, 2)
	fresh.finish(t)
	steady.finish(t)
	testutil.Eventually(t, 10*time.Second, "connections to return to 0", func() bool { return e.connections("echo") == 0 })
	after := e.status()
	for name, pid := range before {
		st := after[name]
		if st.State != procs.AppRunning || st.Instances[0].PID != pid || st.Restarts != 0 {
			t.Fatalf("app %s was disturbed by aborted clients: pid %d before, now %+v", name, pid, st)
		}
	}
	t.Logf("%d echo and %d HTTP connections reset; steady client echoed %d lines in order", len(echoConns), len(webConns), steady.got.Load())
}

// openEchoed connects to the echo app and proves the path with one line.
func openEchoed(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	tc := testutil.Dial(t, addr)
	_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := tc.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(tc).ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("echo: %q, %v", line, err)
	}
	return tc
}

// openHalfRequest connects to the HTTP app and sends half a request.
func openHalfRequest(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	tc := testutil.Dial(t, addr)
	if _, err := tc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nUser-Ag")); err != nil {
		t.Fatal(err)
	}
	return tc
}

// abortEcho resets c in one of three ways: 0 after half a line, 1 while
// 256 KiB of lines are being echoed back unread, 2 at once.
func abortEcho(wg *sync.WaitGroup, c *net.TCPConn, kind int) {
	defer wg.Done()
	switch kind {
	case 0:
		_, _ = c.Write([]byte("half a li"))
	case 1:
		// Bounded: unread echoes fill the buffers, and then the write blocks.
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		line := strings.Repeat("x", 1023) + "\n"
		_, _ = c.Write([]byte(strings.Repeat(line, 256)))
	}
	_ = c.SetLinger(0)
	c.Close()
}
