package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// writeFiles writes name → content under dir, creating folders, and
// returns dir. A name ending in "/" makes an empty folder.
func writeFiles(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if name[len(name)-1] == '/' {
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// inTempDir makes a temp dir, makes it the working directory, writes files
// there, and returns its path (symlinks resolved, as os.Getwd reports it).
func inTempDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	return writeFiles(t, dir, files)
}

// mustLoad loads gracevisor.yaml from a temp working directory.
func mustLoad(t *testing.T, yaml string) *Config {
	t.Helper()
	dir := inTempDir(t, map[string]string{FileName: yaml})
	c, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// loadProblems loads files from a temp working directory and returns the
// problems; it fails the test if Load succeeds or returns another error type.
func loadProblems(t *testing.T, files map[string]string) (dir string, ps []Problem) {
	t.Helper()
	dir = inTempDir(t, files)
	c, err := Load(dir)
	if err == nil {
		t.Fatalf("Load succeeded, want an error; got %+v", c)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load error is %T (%v), want *Error", err, err)
	}
	if c != nil {
		t.Errorf("Load returned a config along with an error")
	}
	return dir, ce.Problems
}

// app is a minimal valid app list entry with extra indented lines appended.
func app(name string, extra string) string {
	return "  - name: " + name + "\n    command: run --port={port}\n" + extra
}
