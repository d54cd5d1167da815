package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/gracevisor/gracevisor/config"
)

// openLog returns the daemon's logger, writing to the rotated log file and,
// when alsoStderr is set, to stderr too. The file is opened once up front so
// that an unwritable log path fails start-up with a clear message instead of
// silently dropping every later log line.
//
// stderr is a copy that may go away (a closed terminal, a pipe whose reader
// exited): its errors are ignored, it is written after the file, and a
// broken pipe on it must not kill the daemon (and with it, through
// Pdeathsig, every app), so SIGPIPE is caught.
//
// Every line carries the daemon's pid (daemon_pid): during an upgrade two daemons write
// the same file. paused starts with rotation paused (see daemonLog).
func openLog(lf config.LogFile, alsoStderr, paused bool) (*slog.Logger, *daemonLog, error) {
	catchSIGPIPE()
	if err := checkWritable(lf.Path); err != nil {
		return nil, nil, err
	}
	dl := &daemonLog{rot: &lumberjack.Logger{
		Filename:   lf.Path,
		MaxSize:    lf.MaxSizeMB,
		MaxBackups: lf.MaxBackups,
		MaxAge:     lf.MaxAgeDays,
	}}
	if paused {
		dl.Pause()
	}
	var w io.Writer = dl
	if alsoStderr {
		w = teeWriter{main: dl, copy: os.Stderr}
	}
	return slog.New(slog.NewTextHandler(w, nil)).With("daemon_pid", os.Getpid()), dl, nil
}

// daemonLog is the daemon's log file: rotated by lumberjack, except while
// paused, when each line is appended (O_APPEND, one write per line) to the
// file as it is. Two daemons append to it during an upgrade; neither
// rotates then, so no line is lost, torn or written twice. Safe for
// concurrent use.
type daemonLog struct {
	mu     sync.Mutex // guards the fields below
	rot    *lumberjack.Logger
	direct *os.File // non-nil while paused
}

func (l *daemonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.direct != nil {
		return l.direct.Write(p)
	}
	return l.rot.Write(p)
}

// Pause stops rotating: lines are appended to the file from now on. If
// the file cannot be opened, rotation goes on (lumberjack also appends).
func (l *daemonLog) Pause() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.direct != nil {
		return
	}
	f, err := os.OpenFile(l.rot.Filename, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	l.rot.Close() // reopened, appending, by its next write
	l.direct = f
}

// Resume rotates again.
func (l *daemonLog) Resume() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.direct != nil {
		l.direct.Close()
		l.direct = nil
	}
}

func (l *daemonLog) Close() error {
	l.Resume()
	return l.rot.Close()
}

// teeWriter writes to main, then to copy, whose errors are ignored.
type teeWriter struct{ main, copy io.Writer }

func (t teeWriter) Write(p []byte) (int, error) {
	n, err := t.main.Write(p)
	_, _ = t.copy.Write(p)
	return n, err
}

// catchSIGPIPE makes a write to a broken stdout or stderr fail with EPIPE
// instead of killing the process (Go's default for fds 1 and 2). A handler,
// unlike SIG_IGN, is not inherited by the apps gracevisord starts.
func catchSIGPIPE() {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
}

func checkWritable(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	return f.Close()
}
