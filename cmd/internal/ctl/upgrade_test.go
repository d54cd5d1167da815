package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// The steps of an upgrade as gracevisord streams them, up to its outcome.
var upgradeSteps = []string{
	`{"step":"waiting","detail":"the previous daemon (pid 1000) drains: at most 40s"}`,
	`{"step":"started","pid":5678,"version":"v2"}`,
	`{"step":"app_ready","pid":5678,"app":"web"}`,
	`{"step":"ready","pid":5678}`,
	`{"step":"handover","pid":1234}`,
	`{"step":"draining","pid":1234,"connections":3}`,
	`{"step":"frobnicated","detail":"a step of a newer daemon"}`,
}

const (
	upgradeDone   = `{"step":"done","result":{"old_pid":1234,"new_pid":5678,"old_version":"v1","new_version":"v2","duration_ms":1912.4}}`
	upgradeFailed = `{"step":"failed","detail":"start: listen web on localhost:8080: bind: permission denied"}`
)

// The lines a terminal shows for upgradeSteps.
var upgradeStepLines = []string{
	"waiting: the previous daemon (pid 1000) drains: at most 40s",
	"new daemon started (pid 5678, version v2)",
	"app web ready",
	"new daemon serves every app",
	"listeners handed over",
	"old daemon (pid 1234) draining 3 connections",
	"frobnicated: a step of a newer daemon",
}

// upgradeServer answers POST /api/v1/upgrade like gracevisord: 200, then
// lines of ndjson, each flushed on its own; then end, if not nil, ends the
// answer its own way.
func upgradeServer(t *testing.T, lines []string, end func()) string {
	t.Helper()
	return server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != api.PathUpgrade {
			http.Error(w, "wrong request "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		for _, l := range lines {
			fmt.Fprintln(w, l)
			w.(http.Flusher).Flush()
		}
		if end != nil {
			end()
		}
	})
}

// abort cuts the connection without ending the chunked answer.
func abort() { panic(http.ErrAbortHandler) }

// errorServer answers every request with status and a JSON error.
func errorServer(t *testing.T, status int, msg string) string {
	return server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(api.ErrorReply{Error: msg})
	})
}

func lines(ls ...string) string {
	if len(ls) == 0 {
		return ""
	}
	return strings.Join(ls, "\n") + "\n"
}

func TestUpgrade(t *testing.T) {
	all := append(upgradeSteps[:len(upgradeSteps):len(upgradeSteps)], upgradeDone)
	failed := append(upgradeSteps[:2:2], upgradeFailed)
	const result = "upgraded: pid 1234 (v1) → pid 5678 (v2) in 1.9s"
	const failure = "gracevisorctl: upgrade failed: start: listen web on localhost:8080: bind: permission denied\n"
	cases := []struct {
		name           string
		addr           string
		terminal, json bool
		code           int
		stdout, stderr string
	}{
		// Done: one line, or every step first on a terminal.
		{"done", upgradeServer(t, all, nil), false, false, 0, lines(result), ""},
		{"done on a terminal", upgradeServer(t, all, nil), true, false, 0,
			lines(append(upgradeStepLines[:len(upgradeStepLines):len(upgradeStepLines)], result)...), ""},
		{"done --json", upgradeServer(t, all, nil), true, true, 0,
			`{"old_pid":1234,"new_pid":5678,"old_version":"v1","new_version":"v2","duration_ms":1912.4}`, ""},

		// Failed: the new daemon's error on one line; nothing changed.
		{"failed", upgradeServer(t, failed, nil), false, false, 1, "", failure},
		{"failed on a terminal", upgradeServer(t, failed, nil), true, false, 1, lines(upgradeStepLines[:2]...), failure},
		{"failed --json", upgradeServer(t, failed, nil), false, true, 1,
			`{"error":"upgrade failed: start: listen web on localhost:8080: bind: permission denied"}`, failure},
		{"multi-line detail", upgradeServer(t, []string{`{"step":"failed","detail":"a\nb"}`}, nil), false, false, 1,
			"", "gracevisorctl: upgrade failed: a; b\n"},

		// Refused before streaming.
		{"in progress", errorServer(t, http.StatusConflict, "upgrade already in progress"), false, false, 1,
			"", "gracevisorctl: upgrade already in progress\n"},
		{"in progress --json", errorServer(t, http.StatusConflict, "upgrade already in progress"), false, true, 1,
			`{"error":"upgrade already in progress"}`, "gracevisorctl: upgrade already in progress\n"},
		{"shutting down", errorServer(t, http.StatusServiceUnavailable, "shutting down"), false, false, 1,
			"", "gracevisorctl: shutting down\n"},
		{"a daemon from before upgrades", errorServer(t, http.StatusNotFound, "not found: POST /api/v1/upgrade"), false, false, 1,
			"", "gracevisorctl: upgrade: not found: POST /api/v1/upgrade (is gracevisord older than upgrades? stop and start it instead)\n"},

		// The stream ends without its outcome.
		{"stream cut", upgradeServer(t, upgradeSteps[:2], abort), true, false, 1, lines(upgradeStepLines[:2]...),
			"gracevisorctl: upgrade: the daemon's answer ended before the outcome (unexpected EOF); `gracevisorctl version` shows which daemon serves\n"},
		{"stream ended", upgradeServer(t, upgradeSteps[:2], nil), false, false, 1, "",
			"gracevisorctl: upgrade: the daemon's answer ended before the outcome (the connection closed); `gracevisorctl version` shows which daemon serves\n"},
		{"done without result", upgradeServer(t, []string{`{"step":"done"}`}, nil), false, false, 1, "",
			"gracevisorctl: upgrade done, but the daemon sent no result\n"},

		// Not gracevisord.
		{"not a stream", upgradeServer(t, []string{"<html>hello</html>"}, nil), false, false, api.ExitUnreachable, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, out, errb := session(t, tc.addr)
			s.Terminal, s.JSON = tc.terminal, tc.json
			code := Report(s.Stderr, s.Upgrade(context.Background()))
			stdout := out.String()
			if tc.json {
				stdout = compactJSON(t, stdout)
			}
			if code != tc.code || stdout != tc.stdout || (tc.stderr != "" || code == 0) && errb.String() != tc.stderr {
				t.Errorf("exit %d, stdout:\n%s\nstderr: %q\nwant exit %d, stdout:\n%s\nstderr: %q", code, stdout, errb, tc.code, tc.stdout, tc.stderr)
			}
			if lines := strings.Count(errb.String(), "\n"); lines > 1 {
				t.Errorf("stderr is %d lines: %q", lines, errb)
			}
		})
	}
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("not JSON: %q: %v", s, err)
	}
	return b.String()
}

// writes sends every Write to a channel: the test sees each line as it is
// printed.
type writes chan string

func (w writes) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

// On a terminal a step is printed when it happens, not when the upgrade
// ends.
func TestUpgradeStepsAsTheyHappen(t *testing.T) {
	release := make(chan struct{})
	addr := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintln(w, upgradeSteps[1])
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprintln(w, upgradeDone)
	})
	s, _, _ := session(t, addr)
	out := make(writes, 10)
	s.Stdout, s.Terminal = out, true
	done := make(chan error, 1)
	go func() { done <- s.Upgrade(context.Background()) }()
	if got := <-out; got != upgradeStepLines[1]+"\n" {
		t.Errorf("first line %q", got)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := <-out; !strings.HasPrefix(got, "upgraded: ") {
		t.Errorf("last line %q", got)
	}
}

// Ctrl-C stops waiting (exit 1, "interrupted"); the daemon carries on.
func TestUpgradeInterrupted(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	addr := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintln(w, upgradeSteps[1])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	s, _, _ := session(t, addr)
	out := make(writes, 10)
	s.Stdout, s.Terminal = out, true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Upgrade(ctx) }()
	<-out // the upgrade runs
	cancel()
	if err := <-done; api.Code(err) != api.ExitFailed || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("%v (exit %d)", err, api.Code(err))
	}
}
