package procs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gracevisor/gracevisor/config"
)

// This file is scaling: changing how many instances of a running app
// serve, without touching the others. Scaling up starts the new slots and
// adds each to the set once it is ready; scaling down takes the highest
// slots out of the set and lets them drain. The count lasts until the
// next Update (which applies the file's value) or upgrade. Every app
// method runs on appLoop, except Supervisor.Scale.

// ErrBusy is wrapped by Scale when the app is starting, reloading or
// restarting an instance: the set is changing already; retry once that is
// done.
var ErrBusy = errors.New("a start, reload or restart of instances is in flight")

// ErrBadCount is wrapped by Scale when the count is out of range.
var ErrBadCount = fmt.Errorf("instances must be from 1 to %d", config.MaxInstances)

// ScaleResult is what a successful Scale reports.
type ScaleResult struct {
	App       string `json:"app"`
	Instances int    `json:"instances"` // the count asked for
	// Serving are the instances that serve afterwards, by slot (scaled
	// down ones drain on, and are not listed).
	Serving    []InstanceRef `json:"serving"`
	DurationMS float64       `json:"duration_ms"`
}

// scaleReq: serve n instances (see doScale).
type scaleReq struct {
	n int
	w waiter
}

func (scaleReq) isMessage() {}

// Scale makes n instances of the app serve: it returns once the new ones
// serve (or their start gave up: the others serve on), or at once when
// scaling down. A stopped or FATAL app keeps n for its next start.
func (s *Supervisor) Scale(ctx context.Context, name string, n int) (ScaleResult, error) {
	if n < 1 || n > config.MaxInstances {
		return ScaleResult{}, fmt.Errorf("scale %s to %d: %w", name, n, ErrBadCount)
	}
	a, err := s.await(ctx, name)
	if err != nil {
		return ScaleResult{}, err
	}
	begun := time.Now()
	reply := make(chan outcome, 1)
	o, err := a.request(ctx, scaleReq{n, waiter{reply: reply}}, reply)
	if err := firstErr(name, err, o.err); err != nil {
		return ScaleResult{}, err
	}
	s.mu.Lock()
	s.scaled[name] = true
	s.mu.Unlock()
	return ScaleResult{App: name, Instances: n, Serving: o.res.Instances, DurationMS: ms(time.Since(begun))}, nil
}

// doScale serves n instances. An app that is not running (stopped, FATAL)
// keeps n for its next start; one whose set is changing (an attempt in
// flight) refuses.
func (a *app) doScale(n int, w waiter) {
	switch {
	case a.terminating():
		a.send(w.reply, outcome{err: fmt.Errorf("scale %s: %w", a.name, ErrStopped)})
		return
	case a.attempt != nil:
		a.send(w.reply, outcome{err: fmt.Errorf("scale %s: %w; retry once it is done", a.name, ErrBusy)})
		return
	}
	a.cfg.Instances = n
	if len(a.serving) == 0 {
		a.send(w.reply, outcome{})
		return
	}
	if n > 1 {
		a.endWindow() // a rollback window needs one instance
	}
	if gone := a.shed(n); len(gone) > 0 {
		a.route()
		for _, m := range gone {
			a.logger.Info("scaled down; instance drains", "pid", m.in.pid, "slot", m.in.slot)
			a.retire(m)
		}
	}
	if missing := a.emptySlots(); len(missing) > 0 {
		a.beginSlots(false, []waiter{w}, missing)
		return
	}
	a.send(w.reply, outcome{res: ReloadResult{App: a.name, Instances: a.instanceRefs()}})
}
