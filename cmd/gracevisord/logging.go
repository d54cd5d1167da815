package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
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
func openLog(lf config.LogFile, alsoStderr bool) (*slog.Logger, io.Closer, error) {
	catchSIGPIPE()
	if err := checkWritable(lf.Path); err != nil {
		return nil, nil, err
	}
	rot := &lumberjack.Logger{
		Filename:   lf.Path,
		MaxSize:    lf.MaxSizeMB,
		MaxBackups: lf.MaxBackups,
		MaxAge:     lf.MaxAgeDays,
	}
	var w io.Writer = rot
	if alsoStderr {
		w = teeWriter{main: rot, copy: os.Stderr}
	}
	return slog.New(slog.NewTextHandler(w, nil)), rot, nil
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
