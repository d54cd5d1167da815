package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// runCLI runs gracevisorctl in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, false)
	return code, out.String(), errb.String()
}

// closedAddr is a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestUsageErrorsExit2(t *testing.T) {
	rpc := "--rpc=" + closedAddr(t) // usage errors must be caught before any request
	cases := [][]string{
		{"bogus"},
		{rpc, "status", "--bogus-flag"},
		{rpc, "start"},
		{rpc, "stop"},
		{rpc, "restart"},
		{rpc, "reload"},
		{rpc, "reload", "--all", "demo"},
		{rpc, "logs"},
		{rpc, "logs", "a", "b"},
		{rpc, "logs", "demo", "-n", "-1"},
		{rpc, "logs", "demo", "-n", "many"},
		{rpc, "fg"},
		{rpc, "update", "extra"},
		{rpc, "shutdown", "now"},
		{rpc, "upgrade", "now"},
		{rpc, "version", "now"},
		{"--rpc", "no-port", "status"},
	}
	for _, args := range cases {
		code, _, stderr := runCLI(t, args...)
		if code != api.ExitUsage {
			t.Errorf("%q: exit %d, want %d (stderr %q)", args, code, api.ExitUsage, stderr)
		}
		assertOneErrorLine(t, args, stderr)
	}
}

func assertOneErrorLine(t *testing.T, args []string, stderr string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "gracevisorctl: ") {
		t.Errorf("%q: stderr is not one gracevisorctl: line: %q", args, stderr)
	}
}

func TestUnreachableDaemonExit5(t *testing.T) {
	rpc := "--rpc=" + closedAddr(t)
	for _, args := range [][]string{
		{rpc, "status"},
		{rpc, "reload", "demo"},
		{rpc, "reload", "--all"},
		{rpc, "update"},
		{rpc, "logs", "demo"},
		{rpc, "shutdown"},
		{rpc, "upgrade"},
		{rpc, "upgrade", "--json"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != api.ExitUnreachable {
			t.Errorf("%q: exit %d, want %d", args, code, api.ExitUnreachable)
		}
		assertOneErrorLine(t, args, stderr)
		if !strings.Contains(stderr, "daemon unreachable at 127.0.0.1:") {
			t.Errorf("%q: stderr %q does not say the daemon is unreachable", args, stderr)
		}
	}
}

func TestVersionPrintsClientEvenWhenDaemonUnreachable(t *testing.T) {
	code, stdout, _ := runCLI(t, "--rpc="+closedAddr(t), "version")
	if code != api.ExitUnreachable || !strings.Contains(stdout, "gracevisorctl "+version) {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
}

// A server that is not gracevisord (here: some web app on the port) is
// reported as "daemon unreachable", not mistaken for an unknown app.
func TestNotADaemonExit5(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>nope</html>", http.StatusNotFound)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	code, _, stderr := runCLI(t, "--rpc", addr, "status", "demo")
	if code != api.ExitUnreachable || !strings.Contains(stderr, "is gracevisord's API listening there?") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestHelpAndCompletionExit0(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"status", "--help"}, {"completion", "bash"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != api.ExitOK || stdout == "" {
			t.Errorf("%q: exit %d, stdout %d bytes, stderr %q", args, code, len(stdout), stderr)
		}
	}
}
