package procs

import (
	"bytes"
	"log/slog"
	"sync"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/gracevisor/gracevisor/config"
)

// maxLineBytes bounds a line kept in memory while waiting for its newline;
// a longer line is written in pieces of this size, each ended by a newline.
const maxLineBytes = 64 << 10

// logFiles hands out one shared, rotated writer per log file path, so every
// instance of an app (and every app naming the same path) appends whole lines
// to the same lumberjack.Logger. Safe for concurrent use.
//
// A path's Logger is kept for the life of logFiles even while no instance
// uses it (its file is closed then): lumberjack starts a goroutine per Logger
// that it never stops, so creating a fresh Logger each time would leak one
// per instance. A new Logger is made only when the rotation settings change.
type logFiles struct {
	logger *slog.Logger

	mu    sync.Mutex
	files map[string]*logFile
}

// logFile is one shared writer. Its lumberjack.Logger writes each call
// atomically; callers pass only whole lines.
type logFile struct {
	path string
	rot  config.Rotation
	lj   *lumberjack.Logger
	refs int // guarded by logFiles.mu

	mu     sync.Mutex
	failed bool // a write error was logged; cleared by the next success
}

func newLogFiles(logger *slog.Logger) *logFiles {
	return &logFiles{logger: logger, files: make(map[string]*logFile)}
}

// open returns the shared writer for f; release it when done.
func (l *logFiles) open(f config.LogFile) *logFile {
	l.mu.Lock()
	defer l.mu.Unlock()
	lf := l.files[f.Path]
	if lf == nil || (lf.refs == 0 && lf.rot != f.Rotation) {
		lf = &logFile{path: f.Path, rot: f.Rotation, lj: &lumberjack.Logger{
			Filename:   f.Path,
			MaxSize:    f.MaxSizeMB,
			MaxBackups: f.MaxBackups,
			MaxAge:     f.MaxAgeDays,
		}}
		l.files[f.Path] = lf
	}
	lf.refs++
	return lf
}

// release drops one reference; the last one closes the file.
func (l *logFiles) release(lf *logFile) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lf.refs--
	if lf.refs == 0 {
		if err := lf.lj.Close(); err != nil {
			l.logger.Error("close log file", "path", lf.path, "err", err)
		}
	}
}

// write appends whole lines. A failing disk must not stop the app, so errors
// are logged once (until a write succeeds again) and the lines are dropped.
func (lf *logFile) write(lines []byte, logger *slog.Logger) {
	_, err := lf.lj.Write(lines)
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if err != nil && !lf.failed {
		logger.Error("write app log; dropping output until it works again", "path", lf.path, "err", err)
	}
	lf.failed = err != nil
}

// lineWriter is one stream (stdout or stderr) of one instance. It passes
// only whole lines to the shared file, so lines of concurrent instances and
// streams never interleave. Not safe for concurrent use: os/exec's copy
// goroutine is its only writer, and flush runs after that goroutine is done.
type lineWriter struct {
	file   *logFile
	logger *slog.Logger
	buf    []byte
}

// Write never fails, so the child is never blocked or broken by its log.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	if i := bytes.LastIndexByte(w.buf, '\n'); i >= 0 {
		w.file.write(w.buf[:i+1], w.logger)
		w.buf = append(w.buf[:0], w.buf[i+1:]...)
	}
	for len(w.buf) >= maxLineBytes {
		w.emit(w.buf[:maxLineBytes])
		w.buf = append(w.buf[:0], w.buf[maxLineBytes:]...)
	}
	return len(p), nil
}

// flush writes a last line that had no newline, ending it with one so the
// next instance's first line starts on its own line.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
}

func (w *lineWriter) emit(partial []byte) {
	line := make([]byte, 0, len(partial)+1)
	w.file.write(append(append(line, partial...), '\n'), w.logger)
}
