package testutil

import (
	"bytes"
	"sync"
)

// LockedBuffer is a bytes.Buffer that a writer (a logger, a process's
// output) and the test may use at the same time. Its zero value is empty
// and ready; it must not be copied after first use.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
