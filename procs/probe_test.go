package procs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/pires/go-proxyproto"
)

// TestProbeProxyHeader: with healthcheck_proxy_protocol, HTTP and TCP probes
// start with a PROXY header (the probe's own addresses) and pass against an
// app that requires one; without it they send none, so such an app fails
// them and a plain app is unaffected.
func TestProbeProxyHeader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// An HTTP app that requires the header (the library's REQUIRE policy).
	pln := &proxyproto.Listener{Listener: ln, ReadHeaderTimeout: time.Second,
		ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return proxyproto.REQUIRE, nil }}
	seen := make(chan string, 8)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.RemoteAddr
	})}
	go srv.Serve(pln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	cfg := func(send int, probes bool, path string) *config.App {
		return &config.App{InternalHost: "127.0.0.1", Healthcheck: path, HealthcheckTimeout: time.Second,
			Proxy: config.ProxyProtocol{Send: send, Healthcheck: probes}}
	}
	for _, v := range []int{1, 2} {
		reached, err := proberFor(cfg(v, true, "/health"), port).probeAddr(context.Background())
		if err != nil {
			t.Fatalf("v%d HTTP probe with header: %v", v, err)
		}
		if got := <-seen; got == reached || got == "" {
			t.Fatalf("v%d: app saw %q, want the probe's own address (reached %s)", v, got, reached)
		}
	}
	if _, err := proberFor(cfg(2, false, "/health"), port).probeAddr(context.Background()); err == nil {
		t.Fatal("HTTP probe without header passed against an app that requires one")
	}

	// TCP probes: a server that reads what the probe sent.
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tln.Close()
	got := make(chan *proxyproto.Header, 1)
	go func() {
		for {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			h, _ := proxyproto.Read(bufio.NewReader(c))
			got <- h
			c.Close()
		}
	}()
	tport := tln.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		send   int
		probes bool
		want   byte // 0: no header
	}{{1, true, 1}, {2, true, 2}, {2, false, 0}, {0, false, 0}} {
		if _, err := proberFor(cfg(tc.send, tc.probes, ""), tport).probeAddr(context.Background()); err != nil {
			t.Fatal(err)
		}
		h := <-got
		switch {
		case tc.want == 0 && h != nil:
			t.Errorf("%+v: TCP probe sent a header", tc)
		case tc.want != 0 && (h == nil || h.Version != tc.want || h.DestinationAddr.String() != "127.0.0.1:"+strconv.Itoa(tport)):
			t.Errorf("%+v: TCP probe header %+v", tc, h)
		}
	}
}

// TestStartTimeoutNamesTheTellingFailure: a start that never gets ready
// reports the failure that says what the app does (connection refused),
// not the timeout the last probe ran into when start_timeout cut it short.
func TestStartTimeoutNamesTheTellingFailure(t *testing.T) {
	refused := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	var calls int
	check := func(ctx context.Context) (string, error) {
		calls++
		if calls == 1 {
			return "", refused
		}
		<-ctx.Done() // a lookup that runs into the deadline
		return "", fmt.Errorf("dial tcp: lookup localhost: %w", ctx.Err())
	}
	_, err := waitReady(context.Background(), check, make(chan struct{}), 50*time.Millisecond, time.Millisecond)
	if !errors.Is(err, errStartTimeout) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("waitReady = %v; want the start timeout naming the refusal", err)
	}
}

// TestLastStderrLine: the last whole line an app wrote to stderr is kept,
// clipped, for the error of an instance that exits early.
func TestLastStderrLine(t *testing.T) {
	logs := newLogFiles(testLogger(t))
	w := &lineWriter{file: logs.open(config.LogFile{Path: t.TempDir() + "/err"})}
	defer func() { // before TempDir's cleanup: the file is written asynchronously
		w.waitWritten(time.Now().Add(5 * time.Second))
		logs.release(w.file)
	}()
	io.WriteString(w, "starting\nError: listen tcp :80: bind: permission denied\n  \n")
	if w.lastLine != "Error: listen tcp :80: bind: permission denied" {
		t.Fatalf("lastLine = %q", w.lastLine)
	}
	io.WriteString(w, strings.Repeat("x", 1000)+"\n")
	if len(w.lastLine) != maxRememberedLine {
		t.Fatalf("lastLine is %d bytes, want %d", len(w.lastLine), maxRememberedLine)
	}
}
