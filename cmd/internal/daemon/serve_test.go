package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/sdnotify"
	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/procs"
)

// The signal that interrupts start-up is consumed once: stopApps must not
// take it for a second signal (which would SIGKILL the apps).
func TestSignalDuringStartIsTakenOnce(t *testing.T) {
	dir := t.TempDir()
	app := config.App{
		Name: "slow", Command: "sleep 30", // never listens: STARTING until stopped
		InternalHost: "127.0.0.1", ExternalHost: "127.0.0.1",
		StopSignal: syscall.SIGTERM, StopTimeout: 5 * time.Second, MaxRetries: 1,
		Stdout: config.LogFile{Path: filepath.Join(dir, "out")},
		Stderr: config.LogFile{Path: filepath.Join(dir, "err")},
	}
	cfg := &config.Config{PortRange: config.PortRange{From: 22950, To: 23000}, Apps: []config.App{app}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &runner{log: log, sigs: make(chan os.Signal, 4), sup: procs.New(cfg, log)}
	t.Cleanup(func() { r.sup.Shutdown(context.Background()) })

	started := make(chan error, 1)
	go func() { started <- r.start(context.Background()) }()
	testutil.Eventually(t, 10*time.Second, "the app to be STARTING", func() bool {
		st, err := r.sup.Status("slow")
		return err == nil && st[0].State == procs.AppStarting
	})
	r.sigs <- syscall.SIGHUP // kept for the loop
	r.sigs <- syscall.SIGTERM
	select {
	case err := <-started:
		if !errors.Is(err, errStartInterrupted) {
			t.Fatalf("start = %v, want interrupted", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not interrupt start-up")
	}
	if len(r.sigs) != 1 || <-r.sigs != syscall.SIGHUP {
		t.Fatal("start-up lost the SIGHUP or left the SIGTERM queued")
	}
	r.stopApps()
	if st, _ := r.sup.Status("slow"); st[0].State != procs.AppStopped {
		t.Errorf("after stopApps: %+v", st[0])
	}
}

// Two quick SIGHUPs: systemd hears READY=1 once, after the second update is
// done, not when the first one ends.
func TestReadyAfterLastQueuedUpdate(t *testing.T) {
	conn, env := testutil.ListenNotify(t, false)
	t.Setenv("NOTIFY_SOCKET", env)
	dir := t.TempDir()
	yaml := "rpc: {host: 127.0.0.1, port: 9001}\nlogger: {log_dir: " + filepath.Join(dir, "log") + "}\napps: []\n"
	if err := os.WriteFile(filepath.Join(dir, "gracevisor.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, sup, log := startedSupervisor(t, dir)
	r := &runner{log: log, sup: sup, d: newDaemon(dir, cfg, sup, log), ops: &opsRuntime{log: log, sd: sdnotify.New()},
		sigs: make(chan os.Signal, 4), shutdownReq: make(chan struct{}, 1), serveErr: make(chan error, 1)}

	r.d.updateMu.Lock() // the first update cannot finish before the second SIGHUP is queued
	loopDone := make(chan error, 1)
	go func() { _, err := r.loop(context.Background()); loopDone <- err }()
	r.sigs <- syscall.SIGHUP
	r.sigs <- syscall.SIGHUP
	for i := range 2 {
		if got := testutil.ReadDatagram(t, conn); !strings.HasPrefix(got, "RELOADING=1\n") {
			t.Fatalf("datagram %d: %q, want RELOADING=1", i, got)
		}
	}
	r.d.updateMu.Unlock()
	r.sigs <- syscall.SIGTERM
	if err := <-loopDone; err != nil {
		t.Fatal(err)
	}
	r.updates.Wait()
	if got := testutil.ReadDatagram(t, conn); got != "READY=1" {
		t.Fatalf("after both updates: %q, want READY=1", got)
	}
	conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := conn.Read(make([]byte, 4096)); err == nil {
		t.Fatalf("another datagram after READY=1 (%d bytes): READY=1 went out while an update still ran", n)
	}
}
