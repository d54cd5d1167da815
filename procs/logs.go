package procs

import (
	"bytes"
	"log/slog"
	"sync"
	"time"

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

func newLogFiles(logger *slog.Logger) *logFiles {
	return &logFiles{logger: logger, files: make(map[string]*logFile)}
}

// open returns the shared writer for f; release it when done.
func (l *logFiles) open(f config.LogFile) *logFile {
	l.mu.Lock()
	defer l.mu.Unlock()
	lf := l.files[f.Path]
	if lf == nil || (lf.refs == 0 && lf.rot != f.Rotation) {
		lf = newLogFile(f, l.logger, &lumberjack.Logger{
			Filename:   f.Path,
			MaxSize:    f.MaxSizeMB,
			MaxBackups: f.MaxBackups,
			MaxAge:     f.MaxAgeDays,
		})
		l.files[f.Path] = lf
	}
	lf.refs++
	return lf
}

// release drops one reference; after the last one the file is closed once
// its queued lines are written. It never waits for the disk.
func (l *logFiles) release(lf *logFile) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lf.refs--
	if lf.refs == 0 {
		lf.closeWhenWritten()
	}
}

// lineWriter is one stream (stdout or stderr) of one instance. It passes
// only whole lines to the shared file, so lines of concurrent instances and
// streams never interleave. Not safe for concurrent use: os/exec's copy
// goroutine is its only writer, and flush runs after that goroutine is done.
type lineWriter struct {
	file *logFile
	buf  []byte
	last uint64 // sequence number of the last write queued
	// lastLine is the last whole line written (clipped): the likeliest
	// reason an app that exits early gives. Read it only once the process
	// has been reaped (the writes happen before cmd.Wait returns).
	lastLine string
}

// Write never fails, so the child is never broken by its log, and it waits
// for the disk only boundedly (see logFile).
func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	if i := bytes.LastIndexByte(w.buf, '\n'); i >= 0 {
		w.queue(bytes.Clone(w.buf[:i+1]))
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
	w.queue(append(append(line, partial...), '\n'))
}

func (w *lineWriter) queue(lines []byte) {
	w.remember(lines)
	if seq := w.file.write(lines); seq != 0 {
		w.last = seq
	}
}

// maxRememberedLine bounds lastLine.
const maxRememberedLine = 200

// remember keeps the last non-empty line of lines (which ends with '\n').
func (w *lineWriter) remember(lines []byte) {
	for _, l := range bytes.Split(bytes.TrimRight(lines, "\n"), []byte{'\n'}) {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			w.lastLine = string(l[:min(len(l), maxRememberedLine)])
		}
	}
}

// waitWritten waits until the lines queued so far are written (or dropped),
// at most until deadline.
func (w *lineWriter) waitWritten(deadline time.Time) {
	if w.last != 0 {
		w.file.waitWritten(w.last, deadline)
	}
}
