//go:build linux

package l4proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// TestClientNeverReads: a backend writes 100 MiB to a client that reads
// nothing. The proxy (in a child process, so its memory and descriptors are
// its own) must not buffer it: the backend's writes stall after what the
// kernel's socket buffers and one pipe hold, the proxy holds at most one
// pipe per direction, and its memory does not grow with the stream.
func TestClientNeverReads(t *testing.T) {
	const size = 100 << 20
	var wrote atomic.Int64
	srv := newServer(t, func(c net.Conn) {
		c.SetWriteDeadline(time.Now().Add(60 * time.Second))
		block := make([]byte, 64<<10)
		for wrote.Load() < size {
			n, err := c.Write(block)
			wrote.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	child := startProxyChild(t, srv.addr(), "")
	pid := child.cmd.Process.Pid
	pipes0 := countPipes(t, pid)      // its stdin, stdout and stderr
	c := testutil.Dial(t, child.addr) // never read
	testutil.Eventually(t, 5*time.Second, "the backend to write", func() bool { return wrote.Load() > 0 })
	rss0 := rssKB(t, pid)

	last, since := int64(-1), time.Now()
	testutil.Eventually(t, 30*time.Second, "the backend's writes to stall", func() bool {
		if n := wrote.Load(); n != last {
			last, since = n, time.Now()
			return false
		}
		return time.Since(since) > time.Second
	})
	rss1, pipes1 := rssKB(t, pid), countPipes(t, pid)
	t.Logf("backend stalled after %d MiB; proxy RSS %d → %d KiB, pipes %d → %d", last>>20, rss0, rss1, pipes0, pipes1)
	if last >= size/2 {
		t.Errorf("the backend wrote %d MiB into a client that reads nothing", last>>20)
	}
	if pipes1-pipes0 > 2 {
		t.Errorf("the proxy holds %d pipes for one link", pipes1-pipes0)
	}
	if grew := rss1 - rss0; grew > 16<<10 {
		t.Errorf("the proxy's memory grew %d KiB while the stream stalled", grew)
	}
	c.Close()
}

// rssKB returns pid's resident memory in KiB.
func rssKB(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// countPipes counts the distinct pipes among pid's open descriptors.
func countPipes(t *testing.T, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("cannot read %s: %v", dir, err)
	}
	pipes := make(map[string]bool)
	for _, e := range entries {
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(target, "pipe:") {
			pipes[target] = true
		}
	}
	return len(pipes)
}

// TestSmallWritesToSlowReader: a backend sending many small messages (read
// through the loop's scratch buffer, not a pipe) to a client that starts
// reading only once the stream has stalled: the chunk a full client holds
// back is kept by its link, and every byte arrives in order.
func TestSmallWritesToSlowReader(t *testing.T) {
	const msgs, size = 20000, 700
	var sent atomic.Int64
	srv := newServer(t, func(c net.Conn) {
		msg := make([]byte, size)
		// Paced at first, so the proxy reads one message at a time until
		// the client's window is full (a few dozen messages).
		pace := time.NewTicker(50 * time.Microsecond)
		defer pace.Stop()
		for i := range msgs {
			if i < 500 {
				<-pace.C
			}
			for j := range msg {
				msg[j] = byte(i + j)
			}
			if _, err := c.Write(msg); err != nil {
				return
			}
			sent.Add(1)
		}
		c.(*net.TCPConn).CloseWrite()
	})
	p := &Proxy{}
	p.Switch(NewBackend(srv.addr()))
	// Small socket buffers towards the client (accepted sockets inherit
	// the listener's send buffer) fill while the proxy still reads the
	// backend's messages one by one, so a small chunk is what it holds.
	small := func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}
	ln, err := (&net.ListenConfig{Control: small}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(Adopt(ln)) }()
	defer func() {
		p.Shutdown(context.Background())
		<-served
	}()
	c, err := (&net.Dialer{Control: small}).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	last, since := int64(-1), time.Now()
	testutil.Eventually(t, 30*time.Second, "the backend's writes to stall", func() bool {
		if n := sent.Load(); n != last {
			last, since = n, time.Now()
			return false
		}
		return time.Since(since) > 300*time.Millisecond
	})
	if last == msgs {
		t.Fatalf("all %d messages went out before the client read: nothing was held back", msgs)
	}
	want := sha256.New()
	msg := make([]byte, size)
	for i := range msgs {
		for j := range msg {
			msg[j] = byte(i + j)
		}
		want.Write(msg)
	}
	got := sha256.New()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(got, c)
	if err != nil || n != msgs*size {
		t.Fatalf("read %d of %d bytes: %v", n, msgs*size, err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("the bytes differ")
	}
}
