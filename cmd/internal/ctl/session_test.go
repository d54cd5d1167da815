package ctl

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// session is a Session whose client talks to addr (HOST:PORT), printing
// into the returned buffers.
func session(t *testing.T, addr string) (*Session, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	ep, err := api.ParseRPCFlag(addr)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	s := &Session{Stdout: &out, Stderr: &errb, Client: func() (*api.Client, error) {
		return api.NewClient(ep, ""), nil
	}}
	return s, &out, &errb
}

// server answers every request with handle; it returns its HOST:PORT.
func server(t *testing.T, handle http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(handle)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// jsonServer answers every request with 200 and reply as the JSON body.
func jsonServer(t *testing.T, reply string) string {
	return server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(reply))
	})
}

func TestReportPrefixesEveryLine(t *testing.T) {
	var b bytes.Buffer
	code := Report(&b, api.WithCode(api.ExitFailed, errString("invalid config: a.yaml:3: x: bad\ninvalid config: a.yaml:4: y: bad")))
	want := "gracevisorctl: invalid config: a.yaml:3: x: bad\ngracevisorctl: invalid config: a.yaml:4: y: bad\n"
	if code != api.ExitFailed || b.String() != want {
		t.Fatalf("code %d, output %q", code, b.String())
	}
	b.Reset()
	if code := Report(&b, api.WithCode(api.ExitNotRunning, nil)); code != api.ExitNotRunning || b.Len() != 0 {
		t.Fatalf("silent code: %d %q", code, b.String())
	}
}

type errString string

func (e errString) Error() string { return string(e) }
