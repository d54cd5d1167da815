package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// opServer answers every request like gracevisord's start, stop and
// restart, with reply as the body.
func opServer(t *testing.T, reply string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(reply))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

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
			code, out, errOut := runCLI(t, "--rpc", opServer(t, tc.reply), "start", "web")
			if code != api.ExitOK || out != tc.want {
				t.Errorf("exit %d, stdout %q (stderr %q); want 0 and %q", code, out, errOut, tc.want)
			}
		})
	}
}

// --json passes the reply on, result included.
func TestStartJSONCarriesResult(t *testing.T) {
	reply := `{"name": "web", "state": "STOPPED", "instances": [], "result": {"app": "web", "state": "RUNNING", "pid": 42, "port": 10001}}`
	code, out, errOut := runCLI(t, "--rpc", opServer(t, reply), "--json", "start", "web")
	var got []struct {
		State  string `json:"state"`
		Result struct {
			State string `json:"state"`
			PID   int    `json:"pid"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &got); code != api.ExitOK || err != nil || len(got) != 1 ||
		got[0].State != "STOPPED" || got[0].Result.State != "RUNNING" || got[0].Result.PID != 42 {
		t.Errorf("exit %d, stdout %q (stderr %q, %v)", code, out, errOut, err)
	}
}
