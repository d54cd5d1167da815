package ctl

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

var ctlBuild = Build{Version: "v2", BuildID: "0123456789ab", Go: "go1.26.8"}

func TestVersion(t *testing.T) {
	daemon := `{"version":"v1","go":"go1.26.7","build_id":"ba9876543210-dirty","pid":4242,"started_at":"2025-01-01T10:00:00Z","state":"serving"}`
	s, out, _ := session(t, jsonServer(t, daemon))
	if err := s.Version(context.Background(), ctlBuild); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(out.String(), "\n")
	if len(got) != 4 || got[0] != "gracevisorctl v2 (build 0123456789ab, go1.26.8)" ||
		got[1] != "gracevisord   v1 (build ba9876543210-dirty, go1.26.7)" ||
		!strings.HasPrefix(got[2], "              pid 4242, started ") || !strings.HasSuffix(got[2], ", serving") {
		t.Errorf("version:\n%s", out)
	}

	s, out, _ = session(t, jsonServer(t, daemon))
	s.JSON = true
	if err := s.Version(context.Background(), ctlBuild); err != nil {
		t.Fatal(err)
	}
	want := `{"client":{"version":"v2","build_id":"0123456789ab","go":"go1.26.8"},` +
		`"daemon":{"version":"v1","go":"go1.26.7","build_id":"ba9876543210-dirty","pid":4242,"started_at":"2025-01-01T10:00:00Z","state":"serving"}}`
	if got := compactJSON(t, out.String()); got != want {
		t.Errorf("version --json:\n%s\nwant\n%s", got, want)
	}
}

func TestWriteDaemonVersion(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		v    api.Version
		want string
	}{
		{"every field", api.Version{Version: "v1", Go: "go1.26.7", BuildID: "abc", PID: 7, StartedAt: now.Add(-3*time.Hour - 4*time.Minute), State: api.DaemonDraining},
			"gracevisord   v1 (build abc, go1.26.7)\n              pid 7, started " + now.Add(-3*time.Hour-4*time.Minute).Local().Format(time.RFC3339) + " (up 3h04m), draining\n"},
		{"a daemon from before build ids", api.Version{Version: "v0", Go: "go1.25.0"},
			"gracevisord   v0 (go1.25.0)\n"},
		{"no go version", api.Version{Version: "v0", BuildID: "abc", PID: 9},
			"gracevisord   v0 (build abc)\n              pid 9\n"},
	}
	for _, tc := range cases {
		var b bytes.Buffer
		writeDaemonVersion(&b, tc.v, now)
		if b.String() != tc.want {
			t.Errorf("%s:\n%q\nwant\n%q", tc.name, b.String(), tc.want)
		}
	}
}

// An unreachable daemon: the client's version still, exit 5.
func TestVersionDaemonUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, json := range []bool{false, true} {
		s, out, _ := session(t, addr)
		s.JSON = json
		err := s.Version(context.Background(), ctlBuild)
		want := "gracevisorctl v2 (build 0123456789ab, go1.26.8)\n"
		got := out.String()
		if json {
			want, got = `{"client":{"version":"v2","build_id":"0123456789ab","go":"go1.26.8"}}`, compactJSON(t, got)
		}
		if api.Code(err) != api.ExitUnreachable || got != want {
			t.Errorf("json %v: exit %d, stdout %q; want 5 and %q", json, api.Code(err), got, want)
		}
	}
}
