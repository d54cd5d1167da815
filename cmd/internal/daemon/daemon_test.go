package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/procs"
)

// writeDaemonConfig writes gracevisor.yaml with global alerts and the
// given app items (YAML list entries under apps:).
func writeDaemonConfig(t *testing.T, dir string, apps string) {
	t.Helper()
	yaml := "port_range: {from: 23100, to: 23150}\nrpc: {host: 127.0.0.1, port: 9001}\n" +
		"logger: {log_dir: " + filepath.Join(dir, "log") + "}\n" +
		"alerts: {command: global-hook}\n" +
		"apps:" + apps + "\n"
	if err := os.WriteFile(filepath.Join(dir, "gracevisor.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startedSupervisor loads dir's config and starts a supervisor on it,
// shut down at cleanup.
func startedSupervisor(t *testing.T, dir string) (*config.Config, *procs.Supervisor, *slog.Logger) {
	t.Helper()
	cfg, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sup := procs.New(cfg, log)
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.Shutdown(context.Background()) })
	return cfg, sup, log
}

// While an update adds an app (its start can take start_timeout ×
// retries), the app's own alert settings apply to its events and its logs
// can be read, not only once the update returns.
func TestUpdatePublishesAddedAppsSettings(t *testing.T) {
	dir := t.TempDir()
	writeDaemonConfig(t, dir, " []")
	cfg, sup, log := startedSupervisor(t, dir)
	d := newDaemon(dir, cfg, sup, log)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// sleep (for 30 s plus {port} seconds) never listens: the update waits for it until start_timeout.
	writeDaemonConfig(t, dir, fmt.Sprintf(`
  - name: fresh
    command: sleep 30 {port}
    internal_host: 127.0.0.1
    external_host: 127.0.0.1
    external_port: %d
    start_timeout: 3
    max_retries: 1
    alerts: {command: app-hook}`, port))
	done := make(chan error, 1)
	go func() { _, err := d.update(context.Background()); done <- err }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, adding := d.appConfig("fresh"); adding {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("update returned before the check: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the update never published the new config")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := d.alertsFor("fresh").Command; got != "app-hook" {
		t.Errorf("during the update, fresh's alerts go to %q, want its own app-hook", got)
	}
	path, err := d.logPath("fresh", "stdout")
	if err != nil || filepath.Base(filepath.Dir(path)) != "log" {
		t.Errorf("during the update, logPath(fresh) = %q, %v", path, err)
	}
	if _, err := d.logPath("nope", "stdout"); err == nil {
		t.Error("logPath of an app no config names succeeded")
	}
	select {
	case <-done: // the app failed to start: an error or a FATAL app, as procs decides
	case <-time.After(30 * time.Second):
		t.Fatal("update did not return")
	}
	if _, adding := d.appConfig("fresh"); adding {
		t.Error("fresh still counts as being added after the update")
	}
	if _, err := d.logPath("fresh", "stdout"); err != nil {
		t.Errorf("after the update, logPath(fresh): %v", err)
	}
	if got := d.alertsFor("fresh").Command; got != "app-hook" {
		t.Errorf("after the update, fresh's alerts go to %q", got)
	}
}
