package procs

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Logs that hang or fail: neither the app nor its stop waits for them.

// A log write that hangs (a FIFO nobody reads) blocks neither the
// app nor its stop.
func TestHungLogDoesNotBlockStop(t *testing.T) {
	app := testApp(t, "web", modeHTTP)
	app.Stdout.Path = filepath.Join(t.TempDir(), "out.fifo")
	if err := syscall.Mkfifo(app.Stdout.Path, 0o600); err != nil {
		t.Fatal(err)
	}
	app.StopTimeout = time.Second
	s := startSupervisor(t, app)
	read := make(chan string, 1)
	t.Cleanup(func() { // runs before the shutdown: unblocks the writer
		go readFIFO(app.Stdout.Path, read)
		select {
		case out := <-read:
			if !strings.Contains(out, "listening on") {
				t.Errorf("log read from the FIFO: %q", out)
			}
		case <-time.After(10 * time.Second):
			t.Error("the FIFO's writer did not finish")
		}
	})
	pid := servingPID(t, s, "web")
	if got, err := ask(t, s, "web"); err != nil || got != pid {
		t.Fatalf("app with a hung log: %d %v", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin := time.Now()
	if err := s.StopApp(ctx, "web"); err != nil {
		t.Fatalf("stop with a hung log: %v", err)
	}
	if took := time.Since(begin); took > app.StopTimeout+logStuckAfter+time.Second {
		t.Errorf("stop took %s", took)
	}
}

func readFIFO(path string, out chan<- string) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		out <- err.Error()
		return
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	out <- string(b)
}

// A disk that fails (rather than hangs) drops lines, logs once, and leaves
// the app running.
func TestUnwritableLogKeepsAppRunning(t *testing.T) {
	app := testApp(t, "web", modeHTTP)
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o644)
	app.Stdout.Path = filepath.Join(notDir, "out.log")
	var logs syncBuffer
	s := New(testConfig(app), slog.New(slog.NewTextHandler(&logs, nil)))
	s.d.timing = testTiming
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	if pid, err := ask(t, s, "web"); err != nil || pid == 0 {
		t.Fatalf("app with an unwritable log: %d %v", pid, err)
	}
	if err := s.StopApp(context.Background(), "web"); err != nil { // writes "bye": a second failed write
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "write app log"); n != 1 {
		t.Errorf("the write error was logged %d times, want once:\n%s", n, logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
