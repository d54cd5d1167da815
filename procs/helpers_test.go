package procs

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/ports"
)

// testApp is an app running the test binary in mode, with every field set
// and short timeouts, logging into a fresh temp dir.
func testApp(t *testing.T, name, mode string, env ...string) config.App {
	t.Helper()
	dir := t.TempDir()
	rot := config.Rotation{MaxSizeMB: 10}
	return config.App{
		Name:    name,
		Command: "'" + testutil.Executable(t) + "' --port={port}",
		// ChildEnviron also spares every stop a -race child's 1 s sleep at exit.
		Environment:         append(testutil.ChildEnviron(mode), env...),
		Directory:           dir,
		Healthcheck:         "/health",
		InternalHost:        "127.0.0.1",
		ExternalHost:        "127.0.0.1",
		ExternalPort:        0,
		StopSignal:          syscall.SIGTERM,
		MaxRetries:          2,
		StartTimeout:        10 * time.Second,
		StopTimeout:         3 * time.Second,
		HealthcheckInterval: 100 * time.Millisecond,
		HealthcheckTimeout:  time.Second,
		HealthcheckFailures: 2,
		DrainTimeout:        5 * time.Second,
		ConnectTimeout:      5 * time.Second,
		MaxConnections:      0,
		User:                "",
		Stdout:              config.LogFile{Path: filepath.Join(dir, "app_"+name+".out"), Rotation: rot},
		Stderr:              config.LogFile{Path: filepath.Join(dir, "app_"+name+".err"), Rotation: rot},
		Source:              "test",
	}
}

// testDeps returns deps with the real system, closed at cleanup.
func testDeps(t *testing.T) *deps {
	t.Helper()
	d := &deps{sys: newRealSystem(nil), logs: newLogFiles(testLogger(t)), logger: testLogger(t), timing: testTiming}
	t.Cleanup(d.sys.close)
	return d
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// testPorts is a range above the ephemeral ports of most test machines.
func testPorts() *ports.Allocator { return ports.New(21000, 23000) }

// get fetches url with a fresh connection and returns the body.
func get(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// groupMembers lists live (non-zombie) processes whose process group is pgid.
func groupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:]) // state ppid pgrp ...
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
