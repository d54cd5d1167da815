package logtail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// tailOffset returns the offset at which the last n lines of the first size
// bytes of r begin. A final newline ends the last line rather than starting
// an empty one, so "a\nb\n" has two lines. It reads backwards in blocks, so
// memory stays bounded whatever n and the file size are.
func tailOffset(r io.ReaderAt, size int64, n int) (int64, error) {
	if n <= 0 {
		return size, nil
	}
	const blockSize = 32 << 10
	buf := make([]byte, blockSize)
	seen := 0
	for end := size; end > 0; {
		start := max(end-blockSize, 0)
		b := buf[:end-start]
		if _, err := r.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("read log: %w", err)
		}
		for i := len(b) - 1; i >= 0; i-- {
			pos := start + int64(i)
			if b[i] != '\n' || pos == size-1 {
				continue
			}
			if seen++; seen == n {
				return pos + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}

// Open opens the log at path positioned at the start of its last n
// lines. A log that does not exist yet (the app has not written) is not an
// error: the file is nil.
func Open(path string, n int) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err == nil {
		var off int64
		if off, err = tailOffset(f, st.Size(), n); err == nil {
			_, err = f.Seek(off, io.SeekStart)
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tail log: %w", err)
	}
	return f, nil
}

// Follow copies the log at path to w from file's position (file may be
// nil: the log does not exist yet), like tail -F, calling flush after each
// copy, until ctx ends or writing fails (the client went away). It checks
// for new data every poll, and closes the file.
func Follow(ctx context.Context, path string, file *os.File, w io.Writer, flush func() error, poll time.Duration) error {
	f := &logFollower{path: path, file: file, w: w, flush: flush, poll: poll}
	return f.run(ctx)
}

// logFollower copies a growing log file to w, like tail -F: when the file is
// replaced (lumberjack rotation) it finishes the old file and continues with
// the new one from its start; when it is truncated it restarts at offset 0.
// Not safe for concurrent use.
type logFollower struct {
	path  string
	file  *os.File // nil until the file exists
	w     io.Writer
	flush func() error // pushes what was written to the client
	poll  time.Duration
}

// run copies until ctx is done or writing fails (the client went away). It
// closes the file.
func (f *logFollower) run(ctx context.Context) error {
	defer f.close()
	tick := time.NewTicker(f.poll)
	defer tick.Stop()
	for {
		if err := f.copyNew(); err != nil {
			return err
		}
		if err := f.followReplacement(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// copyNew copies everything appended since the last call, then flushes.
func (f *logFollower) copyNew() error {
	if f.file == nil {
		return nil
	}
	n, err := io.Copy(f.w, f.file)
	if err != nil {
		return err
	}
	if n > 0 {
		return f.flush()
	}
	return nil
}

// followReplacement switches to the file now at path if it is a different
// file, and rewinds if the file shrank.
func (f *logFollower) followReplacement() error {
	st, err := os.Stat(f.path)
	if err != nil {
		return nil // not there (yet, or mid-rotation): keep what we have
	}
	if f.file != nil {
		cur, err := f.file.Stat()
		if err == nil && os.SameFile(st, cur) {
			return f.rewindIfTruncated(st.Size())
		}
		if err := f.copyNew(); err != nil { // the tail end of the rotated file
			return err
		}
		f.close()
	}
	nf, err := os.Open(f.path)
	if err != nil {
		return nil // replaced again in between; the next tick retries
	}
	f.file = nf
	return nil
}

func (f *logFollower) rewindIfTruncated(size int64) error {
	pos, err := f.file.Seek(0, io.SeekCurrent)
	if err != nil || size >= pos {
		return err
	}
	_, err = f.file.Seek(0, io.SeekStart)
	return err
}

func (f *logFollower) close() {
	if f.file != nil {
		f.file.Close()
		f.file = nil
	}
}
