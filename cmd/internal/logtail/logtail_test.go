package logtail

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTailOffset(t *testing.T) {
	long := strings.Repeat("x", 70<<10) + "\n" // lines longer than a read block
	cases := []struct {
		name, text string
		n          int
		want       string
	}{
		{"empty", "", 3, ""},
		{"zero lines", "a\nb\n", 0, ""},
		{"fewer lines than n", "a\nb\n", 5, "a\nb\n"},
		{"exactly n", "a\nb\n", 2, "a\nb\n"},
		{"last one", "a\nb\nc\n", 1, "c\n"},
		{"unterminated last line", "a\nb\nc", 2, "b\nc"},
		{"empty lines count", "a\n\n\nb\n", 3, "\n\nb\n"},
		{"long lines across blocks", "a\n" + long + long + "z\n", 2, long + "z\n"},
		{"many short lines", strings.Repeat("line\n", 20000), 3, "line\nline\nline\n"},
	}
	for _, tc := range cases {
		r := strings.NewReader(tc.text)
		off, err := tailOffset(r, int64(len(tc.text)), tc.n)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := tc.text[off:]; got != tc.want {
			t.Errorf("%s: tail %d = %q, want %q", tc.name, tc.n, short(got), short(tc.want))
		}
	}
}

func short(s string) string {
	if len(s) > 40 {
		return s[:20] + "…" + s[len(s)-20:]
	}
	return s
}

func TestOpenTailMissingFileIsEmpty(t *testing.T) {
	f, err := Open(filepath.Join(t.TempDir(), "not-yet.log"), 10)
	if f != nil || err != nil {
		t.Fatalf("openTail of a missing file = %v, %v; want nil, nil", f, err)
	}
}

func TestOpenTailUnreadableIsError(t *testing.T) {
	if _, err := Open(t.TempDir(), 10); err == nil { // a directory
		t.Fatal("openTail of a directory: no error")
	}
}

// syncBuffer is a bytes.Buffer safe for the follower and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls until the buffer holds want, or fails after a deadline.
func waitFor(t *testing.T, buf *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for buf.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("followed output = %q, want %q", buf.String(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.WriteString(f, s); err != nil {
		t.Fatal(err)
	}
}

// startFollower follows path (from its last line, if it exists) into a buffer.
func startFollower(t *testing.T, path string) *syncBuffer {
	t.Helper()
	file, err := Open(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	buf := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	f := &logFollower{path: path, file: file, w: buf, flush: func() error { return nil }, poll: 10 * time.Millisecond}
	go func() { done <- f.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("follower: %v", err)
		}
	})
	return buf
}

func TestFollowAppendRotateTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.out")
	appendTo(t, path, "old\nlast\n")
	buf := startFollower(t, path)
	waitFor(t, buf, "last\n")

	appendTo(t, path, "one\n")
	waitFor(t, buf, "last\none\n")

	// lumberjack rotation: rename, then a new file at the same path.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path+".1", "tail of rotated\n")
	appendTo(t, path, "fresh\n")
	waitFor(t, buf, "last\none\ntail of rotated\nfresh\n")

	// Truncation is seen as the file shrinking below what was read (as tail
	// -f does), so what is written after it must be shorter than before.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, "cut\n")
	waitFor(t, buf, "last\none\ntail of rotated\nfresh\ncut\n")
}

func TestFollowWaitsForFileToAppear(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.out")
	buf := startFollower(t, path)
	appendTo(t, path, "hello\n")
	waitFor(t, buf, "hello\n")
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestFollowStopsWhenClientGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.out")
	appendTo(t, path, "x\n")
	file, err := Open(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	f := &logFollower{path: path, file: file, w: failWriter{}, flush: func() error { return nil }, poll: time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.run(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("run = %v (ctx %v); want the write error before the deadline", err, ctx.Err())
	}
}
