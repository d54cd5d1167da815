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
	"github.com/gracevisor/gracevisor/ports"
)

// testBinary is the running test binary, which doubles as the app.
func testBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return self
}

// testApp is an app running the test binary in mode, with every field set
// and short timeouts, logging into a fresh temp dir.
func testApp(t *testing.T, name, mode string, env ...string) config.App {
	t.Helper()
	dir := t.TempDir()
	rot := config.Rotation{MaxSizeMB: 10}
	return config.App{
		Name:    name,
		Command: "'" + testBinary(t) + "' --port={port}",
		// A -race child otherwise sleeps 1 s at exit, which every stop waits for.
		Environment:         append([]string{testModeEnv + "=" + mode, "GORACE=atexit_sleep_ms=0"}, env...),
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
	d := &deps{sys: newRealSystem(), logs: newLogFiles(testLogger(t)), logger: testLogger(t), timing: testTiming}
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

// eventually polls cond every 10 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

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

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	return procState(string(b)) != "Z"
}

// procState is the state letter of a /proc/PID/stat line.
func procState(stat string) string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 || i+3 > len(stat) {
		return ""
	}
	return stat[i+2 : i+3]
}

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
