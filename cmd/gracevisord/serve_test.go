package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := r.sup.Status("slow")
		if err == nil && st[0].State == procs.AppStarting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("app not STARTING: %+v %v", st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
