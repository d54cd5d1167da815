package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogDirToBeCreated: a log_dir that does not exist yet is fine when it
// can be created, and checking it creates nothing.
func TestLogDirToBeCreated(t *testing.T) {
	c := mustLoad(t, "logger: {log_dir: logs/new}\napps:\n"+app("a", "    logger: {log_dir: app-logs/a/b}\n"))
	if got := filepath.Base(filepath.Dir(c.Apps[0].Stdout.Path)); got != "b" {
		t.Errorf("app log in %s", c.Apps[0].Stdout.Path)
	}
	for _, dir := range []string{"logs", "app-logs"} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("loading the config touched %s: %v", dir, err)
		}
	}
}

// TestLogDirNotWritable: a folder the daemon's user may not write to. Root
// may write anywhere, so this runs only for other users.
func TestLogDirNotWritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write to a 0555 folder")
	}
	dir := inTempDir(t, map[string]string{FileName: "logger: {log_dir: ro/logs}\n", "ro/": ""})
	if err := os.Chmod(filepath.Join(dir, "ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "ro is not a writable directory: permission denied") {
		t.Errorf("Load = %v, want ro/logs refused", err)
	}
}

// TestNameAtTheLimit: a name of maxNameLen characters is fine.
func TestNameAtTheLimit(t *testing.T) {
	name := strings.Repeat("n", maxNameLen)
	if c := mustLoad(t, "apps:\n"+app(name, "")); c.Apps[0].Name != name {
		t.Errorf("name %q", c.Apps[0].Name)
	}
}
