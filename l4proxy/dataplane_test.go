package l4proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// idleFor is how long TestIdleThenBulk leaves its connections idle: long
// enough for anything tied to activity (a pooled pipe, a deadline, a
// keepalive, a fin watch) to have expired.
const idleFor = 30 * time.Second

// TestIdleThenBulk leaves a proxied connection idle for idleFor, then moves
// 16 MiB each way with the half-closes in both orders: the client's first
// (the backend answers after the client's EOF reached it), and the
// backend's first. The SHA-256 of each stream must match on both ends.
// It runs in parallel with the package's other parallel tests.
func TestIdleThenBulk(t *testing.T) {
	if testing.Short() {
		t.Skip("idles for 30 s")
	}
	t.Parallel()
	const size = 16 << 20
	for _, clientFirst := range []bool{true, false} {
		name := map[bool]string{true: "client half-closes first", false: "backend half-closes first"}[clientFirst]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := make(chan bulkResult, 1) // what the backend received, and what it sent
			srv := newServer(t, func(c net.Conn) {
				var r bulkResult
				if clientFirst {
					r.got, r.n, _ = sha(c)
					r.sent, r.err = bulkStream(c, 2, size)
				} else {
					r.sent, r.err = bulkStream(c, 2, size)
					c.(*net.TCPConn).CloseWrite()
					r.got, r.n, _ = sha(c)
				}
				got <- r
			})
			b := NewBackend(srv.addr())
			p := &Proxy{}
			p.Switch(b)
			c := testutil.Dial(t, startProxy(t, p))
			testutil.Eventually(t, 5*time.Second, "link to the backend", func() bool { return srv.accepted.Load() == 1 })

			idle := time.NewTimer(idleFor) // the test's subject: a connection that does nothing
			<-idle.C

			c.SetDeadline(time.Now().Add(60 * time.Second))
			var sent, recv bulkResult
			if clientFirst {
				sent.sent, sent.err = bulkStream(c, 1, size)
				c.CloseWrite()
				recv.got, recv.n, recv.err = sha(c)
			} else {
				recv.got, recv.n, recv.err = sha(c)
				sent.sent, sent.err = bulkStream(c, 1, size)
				c.CloseWrite()
			}
			if sent.err != nil || recv.err != nil {
				t.Fatalf("client write: %v; read: %v", sent.err, recv.err)
			}
			var srvRes bulkResult
			select {
			case srvRes = <-got:
			case <-time.After(60 * time.Second):
				t.Fatal("backend did not finish")
			}
			if srvRes.err != nil || srvRes.n != size || srvRes.got != sent.sent {
				t.Fatalf("backend got %d bytes (write err %v), digest equal %v", srvRes.n, srvRes.err, srvRes.got == sent.sent)
			}
			if recv.n != size || recv.got != srvRes.sent {
				t.Fatalf("client got %d bytes, digest equal %v", recv.n, recv.got == srvRes.sent)
			}
			testutil.Eventually(t, 5*time.Second, "counts to zero", func() bool { return b.Conns() == 0 && p.Stats().Active == 0 })
		})
	}
}

// A stream's bytes are patternBytes read from an offset of its own, so that
// either end can check every byte it receives without hashing whole
// streams: a lost, duplicated or misplaced chunk shows as a mismatch.
var patternBytes = func() []byte {
	b := make([]byte, 1<<20)
	var x uint64 = 0x9e3779b97f4a7c15
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}()

// pattern is one stream of patternBytes, starting at off.
type pattern struct{ off int }

// write sends the first n bytes of the stream, in chunks of at most 64 KiB.
func (s pattern) write(c net.Conn, n int) error {
	for done := 0; done < n; {
		at := (s.off + done) % len(patternBytes)
		chunk := min(n-done, len(patternBytes)-at, 64<<10)
		w, err := c.Write(patternBytes[at : at+chunk])
		done += w
		if err != nil {
			return err
		}
	}
	return nil
}

// read reads until EOF or an error and checks every byte against the
// stream. It returns how many bytes matched, whether the stream ended with
// a clean EOF, and errMismatch if a byte differed or more than limit came.
func (s pattern) read(c net.Conn, limit int) (n int, eof bool, err error) {
	buf := make([]byte, 32<<10)
	for {
		m, rerr := c.Read(buf)
		if n+m > limit {
			return n, false, errMismatch
		}
		for got := buf[:m]; len(got) > 0; {
			at := (s.off + n) % len(patternBytes)
			k := min(len(got), len(patternBytes)-at)
			if !bytes.Equal(got[:k], patternBytes[at:at+k]) {
				return n, false, errMismatch
			}
			got, n = got[k:], n+k
		}
		if rerr == io.EOF {
			return n, true, nil
		}
		if rerr != nil {
			return n, false, rerr
		}
	}
}

var errMismatch = errors.New("received bytes differ from the stream sent")
