package procs

import (
	"log/slog"
	"sync"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/gracevisor/gracevisor/config"
)

// maxQueuedLogBytes bounds the lines of one log file waiting for the disk.
const maxQueuedLogBytes = 4 << 20

// logStuckAfter is how long a writer waits for room in a full queue before
// the file counts as stuck and its lines are dropped.
const logStuckAfter = time.Second

// logFile is one shared writer. Its lumberjack.Logger writes each call
// atomically; callers pass only whole lines.
//
// Lines are queued and written by writeLog, a goroutine that runs while
// there is something to write, so an app's output does not wait on the
// disk: a hung disk (NFS, a full FIFO) would otherwise block os/exec's copy
// goroutine, then the app on its stdout, and cmd.Wait — so stop and
// shutdown — for ever. The queue holds up to maxQueuedLogBytes; beyond that
// a writer waits up to logStuckAfter for room (a slow disk slows the app
// down, it loses nothing). If no room comes the file is stuck: its lines
// are dropped without waiting until a write completes again. A failing disk
// (write errors) drops lines too. Both are logged once. Safe for concurrent
// use.
type logFile struct {
	path   string
	rot    config.Rotation
	lj     *lumberjack.Logger
	logger *slog.Logger
	refs   int // guarded by logFiles.mu

	mu      sync.Mutex
	room    *sync.Cond // broadcast when queued bytes were written
	queue   [][]byte   // whole lines, oldest first
	queued  int        // bytes queued or being written
	writing bool       // writeLog runs
	close   bool       // close the file once the queue is written: no instance uses it
	failed  bool       // a write error was logged; cleared by the next success
	stuck   bool       // a writer found no room within logStuckAfter; cleared by the next write
	dropped int        // lines dropped while stuck
	queuedN uint64     // writes queued so far
	doneN   uint64     // writes finished (written or failed) so far
}

func newLogFile(f config.LogFile, logger *slog.Logger, lj *lumberjack.Logger) *logFile {
	lf := &logFile{path: f.Path, rot: f.Rotation, lj: lj, logger: logger}
	lf.room = sync.NewCond(&lf.mu)
	return lf
}

// write queues whole lines (lf keeps lines) and returns their sequence
// number for waitWritten, or 0 if they were dropped.
func (lf *logFile) write(lines []byte) uint64 {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if !lf.fits(len(lines)) && !lf.stuck {
		lf.waitUntil(func() bool { return lf.fits(len(lines)) }, time.Now().Add(logStuckAfter))
		if !lf.fits(len(lines)) {
			lf.stuck = true
			lf.logger.Error("app log is not being written (disk stuck?); dropping output until it moves again",
				"path", lf.path, "waited", logStuckAfter)
		}
	}
	if !lf.fits(len(lines)) {
		lf.dropped++
		return 0
	}
	lf.queue = append(lf.queue, lines)
	lf.queued += len(lines)
	lf.queuedN++
	lf.close = false
	lf.kick()
	return lf.queuedN
}

// waitWritten waits until the write numbered seq has finished, or the
// deadline passes, or the file is stuck. An exiting instance uses it so
// that its last lines are in the file when its exit is reported.
func (lf *logFile) waitWritten(seq uint64, deadline time.Time) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	lf.waitUntil(func() bool { return lf.doneN >= seq || lf.stuck }, deadline)
}

// fits reports whether n more bytes may be queued; lf.mu must be held. An
// empty queue takes anything, so a huge write is never dropped for its size.
func (lf *logFile) fits(n int) bool {
	return lf.queued == 0 || lf.queued+n <= maxQueuedLogBytes
}

// waitUntil waits (lf.mu held) until done holds or the deadline passes;
// writeLog broadcasts lf.room after every write.
func (lf *logFile) waitUntil(done func() bool, deadline time.Time) {
	if done() {
		return
	}
	wake := time.AfterFunc(time.Until(deadline), func() {
		lf.mu.Lock()
		defer lf.mu.Unlock()
		lf.room.Broadcast()
	})
	defer wake.Stop()
	for !done() && time.Now().Before(deadline) {
		lf.room.Wait()
	}
}

// closeWhenWritten has the file closed once the queue is written.
func (lf *logFile) closeWhenWritten() {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	lf.close = true
	lf.kick()
}

// kick starts writeLog unless it runs; lf.mu must be held.
func (lf *logFile) kick() {
	if !lf.writing {
		lf.writing = true
		go writeLog(lf)
	}
}

// writeLog writes queued lines until the queue is empty, closes the file
// if that was asked for meanwhile, and returns.
func writeLog(lf *logFile) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	for {
		switch {
		case len(lf.queue) > 0:
			lines := lf.queue[0]
			lf.queue[0] = nil
			lf.queue = lf.queue[1:]
			lf.mu.Unlock()
			_, err := lf.lj.Write(lines)
			lf.mu.Lock()
			lf.queued -= len(lines)
			lf.doneN++
			lf.wrote(err)
			lf.room.Broadcast()
		case lf.close:
			lf.close = false
			lf.mu.Unlock()
			err := lf.lj.Close()
			lf.mu.Lock()
			if err != nil {
				lf.logger.Error("close app log", "path", lf.path, "err", err)
			}
		default:
			lf.writing = false
			return
		}
	}
}

// wrote records a write's result; lf.mu must be held.
func (lf *logFile) wrote(err error) {
	if lf.stuck {
		lf.logger.Warn("app log is written again", "path", lf.path, "dropped_lines", lf.dropped)
		lf.stuck, lf.dropped = false, 0
	}
	if err != nil && !lf.failed {
		lf.logger.Error("write app log; dropping output until it works again", "path", lf.path, "err", err)
	}
	lf.failed = err != nil
}
