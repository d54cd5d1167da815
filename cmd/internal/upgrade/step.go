package upgrade

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sync"
)

// A Step is one thing the successor did on its way to serving.
type Step struct {
	Kind    string `json:"step"`
	PID     int    `json:"pid,omitempty"`
	App     string `json:"app,omitempty"`
	Version string `json:"version,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// Step kinds the successor reports.
const (
	StepStarted  = "started"   // the new process runs (PID, Version)
	StepAppReady = "app_ready" // one app serves in it (App, PID of the instance)
	StepReady    = "ready"     // it serves: the upgrade succeeded
	StepFailed   = "failed"    // it cannot take over (Detail says why) and exits
)

// reporter writes steps, one JSON line each, to the parent. Its methods
// are nil-safe: a first daemon has no parent to tell.
type reporter struct {
	mu  sync.Mutex // one line at a time
	w   *os.File
	enc *json.Encoder
}

func newReporter(f *os.File) *reporter {
	if f == nil {
		return nil
	}
	return &reporter{w: f, enc: json.NewEncoder(f)}
}

func (r *reporter) send(s Step) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w != nil {
		_ = r.enc.Encode(s) // the parent may have given up: nothing to do about it
	}
}

// close ends the reports; later sends are dropped.
func (r *reporter) close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w != nil {
		r.w.Close()
		r.w = nil
	}
}

// relaySteps passes each step read from r to onStep until the last one
// (ready or failed) or the end of r, then sends the failure the successor
// reported (nil if none) on done.
func relaySteps(r io.Reader, onStep func(Step), done chan<- error) {
	var failed error
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var s Step
		if json.Unmarshal(sc.Bytes(), &s) != nil {
			continue
		}
		if s.Kind == StepFailed {
			failed = errors.New(s.Detail)
		}
		if onStep != nil {
			onStep(s)
		}
		if s.Kind == StepReady || s.Kind == StepFailed {
			break
		}
	}
	done <- failed
}
