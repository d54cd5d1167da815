package testutil

import (
	"testing"
	"time"
)

// PollInterval is how long WaitFor and Eventually sleep between two calls
// of their condition.
const PollInterval = 10 * time.Millisecond

// WaitFor calls cond every PollInterval until it returns true or timeout
// has passed, and reports whether it returned true. cond is called at least
// once, and once more after the deadline has passed before WaitFor gives up.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(PollInterval)
	}
	return true
}

// Eventually is WaitFor that fails the test when timeout passes:
// "timed out after <timeout> waiting for <what>".
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !WaitFor(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Closed reports whether ch is closed (or has a value ready), without
// waiting.
func Closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
