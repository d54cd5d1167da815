package procs

import (
	"sync/atomic"
	"time"
)

// EventKind names what happened to an app. The names are those of
// config.AlertEvents.
type EventKind string

// Event kinds.
const (
	// EventCrash: the serving instance exited on its own.
	EventCrash EventKind = "crash"
	// EventRestart: an instance was started to replace a crashed one, or to
	// retry a failed start.
	EventRestart EventKind = "restart"
	// EventReloadOK: a reload (reload, update) switched traffic to a new instance.
	EventReloadOK EventKind = "reload_ok"
	// EventReloadFailed: a reload gave up; the old instance still serves.
	EventReloadFailed EventKind = "reload_failed"
	// EventFatal: the app gave up after max_retries and is FATAL.
	EventFatal EventKind = "fatal"
	// EventRecovered: the app serves again after a crash, failed starts,
	// FATAL, or an unhealthy instance.
	EventRecovered EventKind = "recovered"
	// EventUnhealthy: the serving instance failed healthcheck_failures
	// health checks in a row; a replacement is being started.
	EventUnhealthy EventKind = "unhealthy"
	// EventOOMKilled: the kernel's OOM killer ended an instance (memory_max);
	// a crash or a failed start follows, handled as usual.
	EventOOMKilled EventKind = "oom_killed"
	// EventRolledBack: within the rollback window, new connections went
	// back to the instance that served before the last reload (the new one
	// exited, turned unhealthy, or an operator asked); PID is that instance.
	EventRolledBack EventKind = "rolled_back"
	// EventDegraded: an app with several instances gave up restarting
	// some of them (max_retries); the others serve on, with fewer
	// instances than configured, until a reload, scale or update.
	EventDegraded EventKind = "degraded"
)

// Event is one state change of an app, as alert hooks receive it.
type Event struct {
	Seq   uint64    `json:"seq"` // increases by one per event of the supervisor
	Kind  EventKind `json:"event"`
	App   string    `json:"app"`
	Time  time.Time `json:"time"`
	State AppState  `json:"state"` // the app's state right after the event
	// PID and Port name the instance the event is about: the one that
	// crashed, was started, or took over; 0 when there is none.
	PID  int `json:"pid,omitempty"`
	Port int `json:"port,omitempty"`
	// Error says what went wrong (crash, reload_failed, fatal, unhealthy,
	// rolled_back, degraded).
	Error string `json:"error,omitempty"`
	// Failures is the count of consecutive failed starts so far (restart, fatal).
	Failures int `json:"failures,omitempty"`
	// DurationMS is, for reload_ok and recovered, the time from the request
	// (or the failure) to the switch of traffic; for crash, how long the
	// instance had served.
	DurationMS float64 `json:"duration_ms,omitempty"`
}

// eventHook holds the function that receives events; see SetEventHook.
type eventHook struct {
	fn  func(Event)
	seq atomic.Uint64
}

// SetEventHook makes fn receive every app event. fn is called on the app's
// own goroutine, so it must return at once (hand the event to a buffered
// channel, dropping it when that is full); it may be called from several
// apps at the same time. Call it before Start.
func (s *Supervisor) SetEventHook(fn func(Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d.events.fn = fn
}

// emit queues an event; refresh hands it to the hook once the app's new
// state is known. Runs on appLoop.
func (a *app) emit(ev Event) {
	ev.App, ev.Time = a.name, time.Now()
	a.pending = append(a.pending, ev)
}

// flushEvents hands the queued events to the hook with the app's state.
// Runs on appLoop, after the state was derived.
func (a *app) flushEvents() {
	h := &a.d.events
	for _, ev := range a.pending {
		if h.fn == nil {
			break
		}
		ev.Seq, ev.State = h.seq.Add(1), a.state
		h.fn(ev)
	}
	a.pending = a.pending[:0]
}
