package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/pires/go-proxyproto"
)

// getWithHeader sends a PROXY header of version v naming src, then GET /,
// and returns the answer's body ("" and the error if there was none).
func getWithHeader(t *testing.T, addr string, v byte, src string) (string, error) {
	t.Helper()
	c := testutil.Dial(t, addr)
	defer c.Close()
	if v != 0 {
		s, _ := net.ResolveTCPAddr("tcp", src)
		d, _ := net.ResolveTCPAddr("tcp", addr)
		if _, err := proxyproto.HeaderProxyFromAddrs(v, s, d).WriteTo(c); err != nil {
			t.Fatal(err)
		}
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestProxyProtocolFlag: with --proxy-protocol the client a v1 or v2
// header names is the one GET / and the access log report; a connection
// without a header gets no answer. Without the flag, the socket's peer is.
func TestProxyProtocolFlag(t *testing.T) {
	p, addr := startListening(t, "--port", "0", "--proxy-protocol", "--access-log")
	for _, v := range []byte{1, 2} {
		body, err := getWithHeader(t, addr, v, "203.0.113.9:4242")
		if err != nil || !identityRE.MatchString(body) || !strings.Contains(body, " client=203.0.113.9:4242\n") {
			t.Fatalf("v%d: body %q, %v; want client=203.0.113.9:4242", v, body, err)
		}
	}
	p.stdout.waitFor(t, "access client=203.0.113.9:4242 method=GET path=/ status=200")
	if body, err := getWithHeader(t, addr, 0, ""); err == nil {
		t.Fatalf("no header: got an answer %q", body)
	}

	_, plain := startListening(t, "--port", "0")
	body, err := getWithHeader(t, plain, 0, "")
	if err != nil || !strings.Contains(body, " client=127.0.0.1:") {
		t.Fatalf("plain: %q, %v", body, err)
	}
}
