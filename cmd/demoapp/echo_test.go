package main

import (
	"bufio"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// dialEcho connects to addr (closed at cleanup; all I/O due within
// waitTimeout) and returns the connection and a reader on it.
func dialEcho(t *testing.T, addr string) (*net.TCPConn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitTimeout))
	return c.(*net.TCPConn), bufio.NewReader(c)
}

func writeString(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read line: %v (got %q)", err, line)
	}
	return line
}

func TestEchoLinesAndHalfClose(t *testing.T) {
	p, addr := startListening(t, "--port", "0", "--echo")
	if !strings.HasSuffix(p.stdout.waitFor(t, "listening"), "(echo)") {
		t.Errorf("listening line does not say echo: %s", p.stdout)
	}
	c, r := dialEcho(t, addr)

	for _, line := range []string{"hello\n", "world\n", strings.Repeat("x", 10000) + "\n"} {
		writeString(t, c, line)
		if got := readLine(t, r); got != line {
			t.Fatalf("echo of a %d-byte line: got %d bytes", len(line), len(got))
		}
	}
	// An unterminated tail comes back after the client half-closes, and then
	// the server half-closes too.
	writeString(t, c, "tail")
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read after half-close: %v", err)
	}
	if string(rest) != "tail" {
		t.Fatalf("after half-close got %q, want %q then EOF", rest, "tail")
	}
}

// On SIGTERM the echo server stops accepting but an open connection keeps
// working until the client is done; then demoapp exits 0.
func TestEchoSIGTERMFinishesOpenConnection(t *testing.T) {
	p, addr := startListening(t, "--port", "0", "--echo")
	c, r := dialEcho(t, addr)
	writeString(t, c, "before\n")
	readLine(t, r) // the connection is accepted and being served

	p.signal(t, syscall.SIGTERM)
	p.stdout.waitFor(t, "stopping")
	waitRefused(t, addr)
	writeString(t, c, "after\n")
	if got := readLine(t, r); got != "after\n" {
		t.Fatalf("echo after SIGTERM = %q", got)
	}
	c.CloseWrite()
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit code = %d, want 0", code)
	}
}

func TestEchoGraceExceeded(t *testing.T) {
	p, addr := startListening(t, "--port", "0", "--echo", "--grace", "200ms")
	c, r := dialEcho(t, addr)
	writeString(t, c, "hi\n")
	readLine(t, r)

	p.signal(t, syscall.SIGTERM)
	if code := p.exitCode(t); code != 1 {
		t.Fatalf("exit code = %d, want 1", code)
	}
	if rest, err := io.ReadAll(r); err != nil && len(rest) > 0 {
		t.Fatalf("after forced close: %q, %v", rest, err)
	}
	p.stderr.waitFor(t, "grace 200ms exceeded")
}

// waitRefused polls until addr refuses connections.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	if !testutil.WaitFor(waitTimeout, func() bool { return testutil.Refused(addr) }) {
		t.Fatal("still accepting connections after SIGTERM")
	}
}
