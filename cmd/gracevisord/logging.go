package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/gracevisor/gracevisor/config"
)

// openLog returns the daemon's logger, writing to the rotated log file and,
// when alsoStderr is set, to stderr too. The file is opened once up front so
// that an unwritable log path fails start-up with a clear message instead of
// silently dropping every later log line.
func openLog(lf config.LogFile, alsoStderr bool) (*slog.Logger, io.Closer, error) {
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
		w = io.MultiWriter(os.Stderr, rot)
	}
	return slog.New(slog.NewTextHandler(w, nil)), rot, nil
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

// isTerminal reports whether f is a terminal (a TCGETS ioctl succeeds).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
