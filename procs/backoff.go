package procs

import "time"

// timing holds the supervisor's fixed time constants; tests shorten them.
type timing struct {
	// backoffBase is the wait after the first failed start; it doubles with
	// each further consecutive failure, up to backoffMax.
	backoffBase, backoffMax time.Duration
	// stableAfter is how long an instance must have served for its crash
	// not to count as a failed start (the failure counter is reset).
	stableAfter time.Duration
	// readyPoll is how often a starting instance is probed.
	readyPoll time.Duration
}

var defaultTiming = timing{
	backoffBase: 250 * time.Millisecond,
	backoffMax:  30 * time.Second,
	stableAfter: 10 * time.Second,
	readyPoll:   readyPollInterval,
}

// backoff is the wait before the next start after n consecutive failures
// (n ≥ 1): base, 2×base, 4×base … capped at max.
func (t timing) backoff(n int) time.Duration {
	d := t.backoffBase
	for i := 1; i < n && d < t.backoffMax; i++ {
		d *= 2
	}
	return min(d, t.backoffMax)
}
