package main

import (
	"bytes"
	"github.com/gracevisor/gracevisor/cmd/internal/buildinfo"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runDaemon(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestFlags(t *testing.T) {
	if code, out, _ := runDaemon(t, "--version"); code != 0 || out != "gracevisord "+version+" (build "+buildinfo.ID(buildID)+")\n" {
		t.Errorf("--version: %d %q", code, out)
	}
	if code, _, _ := runDaemon(t, "--help"); code != 0 {
		t.Errorf("--help: exit %d", code)
	}
	if code, _, errOut := runDaemon(t, "--bogus"); code != 2 || !strings.Contains(errOut, "bogus") {
		t.Errorf("--bogus: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runDaemon(t, "--conf", t.TempDir(), "extra"); code != 2 || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("extra argument: exit %d, %q", code, errOut)
	}
}

// A bad config is reported one problem per line, naming file, line and key,
// and nothing starts.
func TestBadConfigExit1(t *testing.T) {
	dir := t.TempDir()
	yaml := "rpc: {host: 127.0.0.1, prot: 9001}\napps:\n  - name: a\n    command: ./a --port={port}\n    stop_signal: NOPE\n"
	if err := os.WriteFile(filepath.Join(dir, "gracevisor.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runDaemon(t, "--conf", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one line per problem (2), got %q", errOut)
	}
	for i, key := range []string{"rpc.prot", "apps[0].stop_signal"} {
		if !strings.HasPrefix(lines[i], "gracevisord: "+filepath.Join(dir, "gracevisor.yaml")+":") || !strings.Contains(lines[i], key) {
			t.Errorf("line %d = %q, want file:line and key %s", i, lines[i], key)
		}
	}
}

func TestMissingConfigExit1(t *testing.T) {
	code, _, errOut := runDaemon(t, "--conf", filepath.Join(t.TempDir(), "none"))
	if code != 1 || !strings.Contains(errOut, "gracevisor.yaml") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// A non-loopback bind without a token: gracevisord exits 1 and says why,
// before starting anything.
func TestRefusesExposedAPI(t *testing.T) {
	dir := t.TempDir()
	yaml := "rpc: {host: 0.0.0.0, port: 9001}\nlogger: {log_dir: " + filepath.Join(dir, "log") + "}\napps: []\n"
	if err := os.WriteFile(filepath.Join(dir, "gracevisor.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runDaemon(t, "--conf", dir)
	if code != 1 || !strings.Contains(errOut, `rpc.host "0.0.0.0" is not a loopback address and rpc.token_file is not set`) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
