package l4proxy

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// TestBackendGoneReleasesStuckLinks is issue 18's repro: clients that send
// and never read hold an app's connection slots. Once the backend's server
// is gone and Gone is called, every link to it ends within GoneGrace (plus
// scheduling), the slots are free, and new clients reach the new backend.
func TestBackendGoneReleasesStuckLinks(t *testing.T) {
	for _, limit := range []int{0, 20} {
		name := "no cap"
		if limit > 0 {
			name = "max_connections"
		}
		t.Run(name, func(t *testing.T) {
			old := newServer(t, echo)
			next := newServer(t, named("next"))
			p := &Proxy{MaxConnections: limit, ClientWriteTimeout: -1}
			b := NewBackend(old.addr())
			p.Switch(b)
			addr := startProxy(t, p)
			testutil.StuckClients(t, addr, 20, 200<<10)
			// Accepted by the server: dialed, so none of them can still
			// fail over to the next backend.
			testutil.Eventually(t, 5*time.Second, "20 links", func() bool { return old.accepted.Load() == 20 })
			if limit > 0 {
				if d := expectClosed(t, testutil.Dial(t, addr), 5*time.Second); d > time.Second {
					t.Fatalf("client over the cap closed after %v", d)
				}
			}

			p.Switch(NewBackend(next.addr()))
			old.close() // the server exits: its sockets close
			start := time.Now()
			b.Gone()
			testutil.Eventually(t, 3*GoneGrace, "links to the gone backend closed", func() bool {
				return b.Conns() == 0 && p.Stats().Active == 0
			})
			t.Logf("released %d links in %v", 20, time.Since(start).Round(time.Millisecond))
			if _, name := greeting(t, addr); name != "next" {
				t.Fatalf("new client reached %q, want next", name)
			}
		})
	}
}

// TestBackendGoneDeliversLastBytes: a server that answers, closes and exits
// just before Gone still has its answer delivered to a reading client, and
// a slow reader of a long answer keeps receiving as long as it makes
// progress.
func TestBackendGoneDeliversLastBytes(t *testing.T) {
	const size = 4 << 20
	answered := make(chan struct{})
	srv := newServer(t, func(c net.Conn) {
		readLine(c, 5*time.Second)
		c.Write(bytes.Repeat([]byte("x"), size))
		c.Close()
		close(answered)
	})
	b := NewBackend(srv.addr())
	p := &Proxy{}
	p.Switch(b)
	c := testutil.Dial(t, startProxy(t, p))
	c.SetReadBuffer(16 << 10)
	io.WriteString(c, "request\n")
	<-answered // all of it is in the proxy's or the kernel's buffers now
	p.Refuse()
	b.Gone()
	got := 0
	buf := make([]byte, 64<<10)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for got < size {
		n, err := c.Read(buf)
		got += n
		if err != nil {
			t.Fatalf("read %d of %d bytes: %v", got, size, err)
		}
		if got < size/2 {
			time.Sleep(time.Millisecond) // a slow reader, well within GoneGrace per chunk
		}
	}
	if _, err := c.Read(buf); err != io.EOF {
		t.Fatalf("after the answer: %v, want EOF", err)
	}
}

// TestClientWriteTimeout: a client that stops reading is cut after the
// timeout (the backend sees its side closed and the slot is free); one that
// reads slowly but steadily is not.
func TestClientWriteTimeout(t *testing.T) {
	firehose := func(c net.Conn) {
		chunk := bytes.Repeat([]byte("y"), 64<<10)
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}
	t.Run("not reading", func(t *testing.T) {
		srv := newServer(t, firehose)
		p := &Proxy{ClientWriteTimeout: 300 * time.Millisecond}
		b := NewBackend(srv.addr())
		p.Switch(b)
		c := testutil.Dial(t, startProxy(t, p))
		c.SetReadBuffer(4 << 10)
		testutil.Eventually(t, 5*time.Second, "link counted", func() bool { return b.Conns() == 1 })
		testutil.Eventually(t, 5*time.Second, "link aborted", func() bool { return b.Conns() == 0 && p.Stats().Active == 0 })
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, c)
		if err == nil || !strings.Contains(err.Error(), "reset") {
			t.Fatalf("client read ended with %v, want a reset", err)
		}
	})
	t.Run("slow reader", func(t *testing.T) {
		srv := newServer(t, firehose)
		p := &Proxy{ClientWriteTimeout: 300 * time.Millisecond}
		b := NewBackend(srv.addr())
		p.Switch(b)
		c := testutil.Dial(t, startProxy(t, p))
		buf := make([]byte, 16<<10)
		end := time.Now().Add(2 * time.Second)
		for time.Now().Before(end) {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatalf("slow reader cut: %v", err)
			}
			time.Sleep(50 * time.Millisecond) // the reader's pace, not a wait for a condition
		}
		if b.Conns() != 1 {
			t.Fatalf("backend conns = %d, want 1", b.Conns())
		}
	})
}
