package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gracevisor/gracevisor/procs"
)

// routingAPI is an api whose handlers are reached only for requests that
// never touch the supervisor: routing, validation, version, shutdown.
func routingAPI(stopped chan struct{}, onShutdown func()) *API {
	return &API{
		Log:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		Version:         "test-1",
		Base:            context.Background(),
		RequestShutdown: onShutdown,
		Stopped:         stopped,
	}
}

func do(t *testing.T, h http.Handler, method, target string) (*httptest.ResponseRecorder, api.ErrorReply) {
	t.Helper()
	rec := httptest.NewRecorder()
	var body io.Reader
	if method == "POST" {
		body = strings.NewReader("{}")
	}
	req := httptest.NewRequest(method, target, body)
	if method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	h.ServeHTTP(rec, req)
	var errBody api.ErrorReply
	if rec.Code >= 400 {
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q, want application/json", method, target, ct)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &errBody); err != nil || errBody.Error == "" {
			t.Errorf("%s %s: error body %q is not {\"error\": ...}: %v", method, target, rec.Body, err)
		}
	}
	return rec, errBody
}

func TestRoutingErrorsAreJSON(t *testing.T) {
	h := routingAPI(nil, nil).Handler()
	cases := []struct {
		method, target string
		code           int
		allow          string
	}{
		{"GET", "/api/v1/apps/demo/reload", http.StatusMethodNotAllowed, "POST"},
		{"DELETE", "/api/v1/update", http.StatusMethodNotAllowed, "POST"},
		{"GET", "/api/v1/shutdown", http.StatusMethodNotAllowed, "POST"},
		{"POST", "/api/v1/status", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"GET", "/api/v1/nope", http.StatusNotFound, ""},
		{"GET", "/api/v1/apps/demo/frobnicate", http.StatusNotFound, ""},
		{"GET", "/index.html", http.StatusNotFound, ""},
		{"POST", "/", http.StatusMethodNotAllowed, "GET, HEAD"},
		// The logs query is validated before the app is looked up.
		{"GET", "/api/v1/apps/demo/logs?stream=both", http.StatusBadRequest, ""},
		{"GET", "/api/v1/apps/demo/logs?n=-1", http.StatusBadRequest, ""},
		{"GET", "/api/v1/apps/demo/logs?n=ten", http.StatusBadRequest, ""},
		{"GET", "/api/v1/apps/demo/logs?follow=maybe", http.StatusBadRequest, ""},
	}
	for _, tc := range cases {
		rec, _ := do(t, h, tc.method, tc.target)
		if rec.Code != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.target, rec.Code, tc.code)
		}
		if got := rec.Header().Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.target, got, tc.allow)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s: X-Content-Type-Options %q, want nosniff like every other answer", tc.method, tc.target, got)
		}
	}
}

// The mux's redirects to a clean path keep their status, Location and body;
// only its 404 and 405 bodies become JSON.
func TestRoutingRedirectsPassThrough(t *testing.T) {
	h := routingAPI(nil, nil).Handler()
	for _, method := range []string{"GET", "POST"} {
		rec, _ := do(t, h, method, "/api/v1//version")
		if rec.Code != http.StatusTemporaryRedirect && rec.Code != http.StatusMovedPermanently {
			t.Fatalf("%s: %d %q, want a redirect", method, rec.Code, rec.Body)
		}
		if loc := rec.Header().Get("Location"); loc != "/api/v1/version" {
			t.Errorf("%s: Location %q", method, loc)
		}
		if strings.Contains(rec.Body.String(), "not found") || rec.Header().Get("Content-Type") == "application/json" {
			t.Errorf("%s: redirect answered with a JSON error: %q %q", method, rec.Header().Get("Content-Type"), rec.Body)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", method, got)
		}
	}
}

func TestVersionEndpoint(t *testing.T) {
	rec, _ := do(t, routingAPI(nil, nil).Handler(), "GET", "/api/v1/version")
	var v api.Version
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || rec.Code != 200 || v.Version != "test-1" || v.Go == "" {
		t.Fatalf("version: %d %q (%v)", rec.Code, rec.Body, err)
	}
}

func TestShutdownAnswersOnceAppsStopped(t *testing.T) {
	stopped := make(chan struct{})
	asked := make(chan struct{}, 1)
	h := routingAPI(stopped, func() { asked <- struct{}{}; close(stopped) }).Handler()
	rec, _ := do(t, h, "POST", "/api/v1/shutdown")
	if rec.Code != 200 || len(asked) != 1 {
		t.Fatalf("shutdown: %d %q, asked %d times", rec.Code, rec.Body, len(asked))
	}
}

func TestErrorStatus(t *testing.T) {
	cases := []struct {
		err  error
		code int
	}{
		{fmt.Errorf("reload: %w %q", procs.ErrUnknownApp, "x"), http.StatusNotFound},
		{fmt.Errorf("%w: %w", ErrInvalidConfig, errors.New("a.yaml:1: x: bad")), http.StatusUnprocessableEntity},
		{errShuttingDown, http.StatusServiceUnavailable},
		{fmt.Errorf("reload demo: %w", context.Canceled), http.StatusServiceUnavailable},
		{errors.New("new instance exited with status 1"), http.StatusConflict},
	}
	for _, tc := range cases {
		if got := errorStatus(tc.err); got != tc.code {
			t.Errorf("errorStatus(%v) = %d, want %d", tc.err, got, tc.code)
		}
	}
}

func TestConfigProblems(t *testing.T) {
	err := fmt.Errorf("%w: %w", ErrInvalidConfig, errors.New("/c/gracevisor.yaml:3: rpc.prot: unknown key\n/c/conf.d/a.yaml:1: command: missing"))
	got := configProblems(err)
	if len(got) != 2 || got[0] != "/c/gracevisor.yaml:3: rpc.prot: unknown key" || got[1] != "/c/conf.d/a.yaml:1: command: missing" {
		t.Fatalf("configProblems = %q", got)
	}
}
