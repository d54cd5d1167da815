package ctl

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// start prints what the call produced (the reply's result), not the app
// object read after it, which a concurrent stop may have changed already.
func TestStartPrintsItsOwnOutcome(t *testing.T) {
	cases := []struct {
		name, reply, want string
	}{
		{"stopped by someone else right after",
			`{"name": "web", "state": "STOPPED", "instances": [], "result": {"app": "web", "state": "RUNNING", "pid": 42, "port": 10001}}`,
			"web: started (RUNNING, pid 42)\n"},
		{"a daemon without result",
			`{"name": "web", "state": "RUNNING", "instances": [{"pid": 7, "state": "SERVING"}]}`,
			"web: started (RUNNING, pid 7)\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, out, errOut := session(t, jsonServer(t, tc.reply))
			err := s.AppOp(context.Background(), api.OpStart, "started", []string{"web"})
			if err != nil || out.String() != tc.want {
				t.Errorf("%v, stdout %q (stderr %q); want %q", err, out, errOut, tc.want)
			}
		})
	}
}

// --json passes the reply on, result included.
func TestStartJSONCarriesResult(t *testing.T) {
	reply := `{"name": "web", "state": "STOPPED", "instances": [], "result": {"app": "web", "state": "RUNNING", "pid": 42, "port": 10001}}`
	s, out, errOut := session(t, jsonServer(t, reply))
	s.JSON = true
	err := s.AppOp(context.Background(), api.OpStart, "started", []string{"web"})
	var got []struct {
		State  string `json:"state"`
		Result struct {
			State string `json:"state"`
			PID   int    `json:"pid"`
		} `json:"result"`
	}
	if jerr := json.Unmarshal(out.Bytes(), &got); err != nil || jerr != nil || len(got) != 1 ||
		got[0].State != "STOPPED" || got[0].Result.State != "RUNNING" || got[0].Result.PID != 42 {
		t.Errorf("%v, stdout %q (stderr %q, %v)", err, out, errOut, jerr)
	}
}

// On a terminal, reload says which app it waits for; otherwise it prints
// the result alone, as scripts expect.
func TestReloadOnATerminal(t *testing.T) {
	reply := `{"app": "web", "pid": 42, "port": 10001, "duration_ms": 41.2}`
	const result = "web: reloaded: new pid 42 on port 10001, switched in 41ms\n"
	for _, terminal := range []bool{false, true} {
		s, out, errOut := session(t, jsonServer(t, reply))
		s.Terminal = terminal
		want := result
		if terminal {
			want = "reloading web…\n" + result
		}
		if err := s.Reload(context.Background(), []string{"web"}, false); err != nil || out.String() != want {
			t.Errorf("terminal %v: %v, stdout %q (stderr %q); want %q", terminal, err, out, errOut, want)
		}
	}
}
