package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gracevisor.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestResolveAddr(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	valid := writeConfig(t, "rpc: {host: 127.0.0.1, port: 9123}\nlogger: {log_dir: "+t.TempDir()+"}\n")
	invalid := writeConfig(t, "rpc: {host: 127.0.0.1, port: 9124}\nbogus_key: 1\n")
	broken := writeConfig(t, "rpc: [unclosed\n")
	cases := []struct {
		name     string
		rpc, dir string
		explicit bool
		want     string
		code     int
	}{
		// --rpc wins and is only checked for shape.
		{"rpc flag", "10.0.0.1:77", missing, true, "10.0.0.1:77", 0},
		{"rpc flag without port", "localhost", missing, false, "", exitUsage},
		// The config's rpc section.
		{"valid config", "", valid, true, "127.0.0.1:9123", 0},
		// An invalid config still names the daemon, so update can report.
		{"invalid config", "", invalid, true, "127.0.0.1:9124", 0},
		// The default only when the user did not name a config dir.
		{"default dir missing", "", missing, false, "localhost:9001", 0},
		{"explicit dir missing", "", missing, true, "", exitUsage},
		{"unparsable yaml", "", broken, true, "", exitUsage},
	}
	for _, tc := range cases {
		got, err := resolveAddr(tc.rpc, tc.dir, tc.explicit)
		if code := exitCode(err); code != tc.code || got != tc.want {
			t.Errorf("%s: got %q, exit %d (%v); want %q, exit %d", tc.name, got, code, err, tc.want, tc.code)
		}
		if err != nil && strings.Contains(err.Error(), "\n") && tc.name != "unparsable yaml" {
			t.Errorf("%s: multi-line error %q", tc.name, err)
		}
	}
}
