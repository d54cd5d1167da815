package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/procs"
)

// ctlAsync runs gracevisorctl --rpc ADDR args... in the background and
// delivers its result on the returned channel. Cleanup kills it if the test
// ends first and waits for it.
func (e *env) ctlAsync(args ...string) <-chan result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, binCtl, append([]string{"--conf", e.dir, "--rpc", e.rpc}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		cancel()
		e.t.Fatal(err)
	}
	res := make(chan result, 1)
	done := make(chan struct{})
	go waitCtl(cmd, &out, &errb, res, done)
	e.t.Cleanup(func() { cancel(); <-done })
	return res
}

func waitCtl(cmd *exec.Cmd, out, errb *bytes.Buffer, res chan<- result, done chan<- struct{}) {
	defer close(done)
	_ = cmd.Wait()
	res <- result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

// spawnQuiet starts gracevisord without --log-stderr, so that its output
// holds only what it prints itself (its log goes to the log file).
func (e *env) spawnQuiet() *daemon { return e.spawnDaemon(nil, nil) }

// echoApp is a demoapp --echo app: readiness is a TCP connect (no HTTP
// healthcheck), and drain_timeout 0 lets old instances drain as long as a
// client stays.
func (e *env) echoApp(name string) app {
	a := e.newApp(name, "--echo")
	a.extra = "healthcheck: \"\"\ndrain_timeout: 0"
	return a
}

// instances is the app's instances from `status --json`.
func (e *env) instances(name string) []procs.InstanceStatus {
	e.t.Helper()
	return e.status()[name].Instances
}

// connections is the sum of the app's instances' open connections.
func (e *env) connections(name string) int64 {
	e.t.Helper()
	var n int64
	for _, in := range e.instances(name) {
		n += in.Connections
	}
	return n
}

// streamer is a long-lived echo client: a writer sends "seq N\n" every
// 50 ms, a reader checks that every line comes back, in order. The counters
// are atomics; errs keeps the first failure of each goroutine.
type streamer struct {
	conn *net.TCPConn
	sent atomic.Int64
	got  atomic.Int64
	stop chan struct{}
	wg   sync.WaitGroup
	errs chan error // buffered: one per goroutine
	once sync.Once
}

// newStreamer connects to addr, proves the path with one echoed line and
// starts streaming. Cleanup closes it if the test did not.
func newStreamer(t *testing.T, addr string) *streamer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := &streamer{conn: c.(*net.TCPConn), stop: make(chan struct{}), errs: make(chan error, 2)}
	_ = s.conn.SetDeadline(time.Now().Add(60 * time.Second)) // a hung proxy fails the test, not the run
	r := bufio.NewReader(s.conn)
	if err := s.roundTrip(r); err != nil {
		s.conn.Close()
		t.Fatalf("first echo through %s: %v", addr, err)
	}
	s.wg.Add(2)
	go streamWrites(s)
	go streamReads(s, r)
	t.Cleanup(func() { s.halt(); s.wg.Wait(); s.conn.Close() })
	return s
}

// roundTrip sends line 0 and reads it back, before the goroutines start.
func (s *streamer) roundTrip(r *bufio.Reader) error {
	if _, err := fmt.Fprintf(s.conn, "seq 0\n"); err != nil {
		return err
	}
	s.sent.Store(1)
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if line != "seq 0\n" {
		return fmt.Errorf("echoed %q, want %q", line, "seq 0\n")
	}
	s.got.Store(1)
	return nil
}

func (s *streamer) halt() { s.once.Do(func() { close(s.stop) }) }

// streamWrites sends a numbered line every 50 ms until stopped, then
// half-closes so the echo server finishes and closes its side.
func streamWrites(s *streamer) {
	defer s.wg.Done()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			if err := s.conn.CloseWrite(); err != nil {
				s.errs <- fmt.Errorf("half-close after %d lines: %w", s.sent.Load(), err)
			}
			return
		case <-tick.C:
		}
		n := s.sent.Load()
		if _, err := fmt.Fprintf(s.conn, "seq %d\n", n); err != nil {
			s.errs <- fmt.Errorf("write line %d: %w", n, err)
			return
		}
		s.sent.Add(1)
	}
}

// streamReads checks each echoed line against the next expected number
// until the server's EOF. A partial line at EOF is a mismatch too.
func streamReads(s *streamer, r *bufio.Reader) {
	defer s.wg.Done()
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			want := fmt.Sprintf("seq %d\n", s.got.Load())
			if line != want {
				s.errs <- fmt.Errorf("echoed %q, want %q (lost or reordered)", line, want)
				return
			}
			s.got.Add(1)
		}
		if errors.Is(err, io.EOF) {
			return // the server is done
		}
		if err != nil {
			s.errs <- fmt.Errorf("read after %d lines: %w", s.got.Load(), err)
			return
		}
	}
}

// waitLines waits until n more lines came back than at the call.
func (s *streamer) waitLines(t *testing.T, n int64) {
	t.Helper()
	target := s.got.Load() + n
	testutil.Eventually(t, 10*time.Second, fmt.Sprintf("%d more echoed lines", n), func() bool {
		s.checkNoError(t)
		return s.got.Load() >= target
	})
}

func (s *streamer) checkNoError(t *testing.T) {
	t.Helper()
	select {
	case err := <-s.errs:
		t.Fatalf("echo stream: %v", err)
	default:
	}
}

// finish stops sending, waits for the echo of every line and the server's
// EOF, and checks that nothing was lost.
func (s *streamer) finish(t *testing.T) {
	t.Helper()
	s.halt()
	s.wg.Wait()
	s.checkNoError(t)
	if sent, got := s.sent.Load(), s.got.Load(); sent != got {
		t.Fatalf("sent %d lines, %d came back", sent, got)
	}
	s.conn.Close()
}

// abortConn closes c with a reset (SO_LINGER 0) instead of a FIN.
func abortConn(t *testing.T, c *net.TCPConn) {
	t.Helper()
	if err := c.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
}
