package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// tokenServer answers like gracevisord with a token: 401 without the right
// Authorization, and it records what a POST carried.
func tokenServer(t *testing.T, token string) (*httptest.Server, *http.Request, *string) {
	t.Helper()
	var last http.Request
	var lastBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "wrong token"})
			return
		}
		last = *r
		b, _ := io.ReadAll(r.Body)
		lastBody = string(b)
		json.NewEncoder(w).Encode(map[string]any{"name": "demo", "state": "RUNNING", "instances": []any{}})
	}))
	t.Cleanup(srv.Close)
	return srv, &last, &lastBody
}

func TestTokenFile(t *testing.T) {
	const token = "0123456789abcdef-token"
	srv, last, body := tokenServer(t, token)
	addr := strings.TrimPrefix(srv.URL, "http://")
	good := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(good, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("not-the-token-at-all\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	if code, out, errOut := runCLI(t, "--rpc", addr, "--token-file", good, "start", "demo"); code != 0 {
		t.Fatalf("right token: exit %d %q %q", code, out, errOut)
	}
	if ct := last.Header.Get("Content-Type"); last.Method != "POST" || ct != "application/json" || *body != "{}" {
		t.Errorf("state change sent as %s %q body %q; want POST application/json {}", last.Method, ct, *body)
	}
	code, _, errOut := runCLI(t, "--rpc", addr, "--token-file", bad, "start", "demo")
	if code != api.ExitUsage || !strings.Contains(errOut, "wrong token") || !strings.Contains(errOut, "--token-file") {
		t.Errorf("wrong token: exit %d %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "--rpc", addr, "--token-file", filepath.Join(t.TempDir(), "none"), "status")
	if code != api.ExitUsage || !strings.Contains(errOut, "--token-file") {
		t.Errorf("missing token file: exit %d %q", code, errOut)
	}
	// The token file named in the config is used without --token-file.
	dir := writeConfig(t, "rpc: {host: 127.0.0.1, port: "+addr[strings.LastIndexByte(addr, ':')+1:]+", token_file: "+good+"}\nlogger: {log_dir: "+t.TempDir()+"}\n")
	if code, out, errOut := runCLI(t, "--conf", dir, "stop", "demo"); code != 0 {
		t.Fatalf("token from config: exit %d %q %q", code, out, errOut)
	}
}

// writeConfig writes a gracevisor.yaml into a new directory and returns it.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gracevisor.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
