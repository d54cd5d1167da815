package procs

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/l4proxy"
)

// ErrStopped is wrapped by a start or reload that was cut short because the
// app was stopped (or removed, or the supervisor shut down) meanwhile.
var ErrStopped = errors.New("app was stopped")

// errAppGone: the app's loop has ended (the app was removed or shut down).
var errAppGone = errors.New("app was removed")

// An app is one supervised application. All of its state below the line is
// owned by one goroutine, appLoop; callers and helper goroutines send it
// messages (see messages.go) and read its snapshot (view).
type app struct {
	name     string
	d        *deps
	logger   *slog.Logger
	inbox    chan message
	dead     chan struct{}  // closed when appLoop stops taking messages
	finished chan struct{}  // closed when appLoop and every helper have returned
	wg       sync.WaitGroup // helper goroutines
	// abort is canceled when a shutdown's deadline passes: drains end and
	// stops go straight to SIGKILL.
	abort    context.Context
	abortNow context.CancelFunc
	// hurry is closed when the app is terminated (shutdown, or removed by
	// an update): nothing will take over its clients, so draining instances
	// get stop_signal at once instead of waiting for drain_timeout.
	hurry chan struct{}
	// leaving: the app is ending (terminate or handover); the loop ends
	// once no instance is left. Loop-owned.
	leaving bool

	// ---- owned by appLoop ----
	cfg              config.App // config for the next instance
	front            *front
	want             bool               // the operator wants it running (false: STOPPED)
	serving          map[int]*member    // where new connections go, by slot
	attempt          *attempt           // new instances being started (or waiting to retry), or nil
	retired          map[*instance]bool // draining, stopping or discarded instances
	standby          *member            // the instance before the last reload, in its rollback window (also in retired)
	window           retryTimer         // the standby's rollback window
	queued           []waiter           // reloads asked for while an attempt was in flight
	stopWaiters      []chan struct{}
	failures         int        // consecutive failed starts (and short runs)
	adopted          int        // instances that ever became serving
	filled           int        // slots that ever had a serving instance (see Restarts)
	retry            retryTimer // the wait before the attempt's next try
	state            AppState
	since            time.Time
	lastErr          string
	lastReload       ReloadOutcome
	reason           string        // see AppStatus.Reason
	lastMemoryReload time.Time     // see onMemoryHigh
	troubled         bool          // crashed, failed or unhealthy since it last served well
	pending          []Event       // emitted, handed to the hook by refresh
	outbox           []sentOutcome // replies, sent by refresh once the status shows their effect
	counters         counters
	traffic          traffic

	// view is the status as of the loop's last step, so Status never waits
	// for a loop busy in a slow step (resolving a host, forking).
	view atomic.Pointer[statusView]
}

// statusView is a status snapshot plus what its live fields are read from.
type statusView struct {
	st       AppStatus
	backends [][]*l4proxy.Backend // per instance: those counting its connections
	metrics  AppMetrics           // the loop-owned counters
	traffic  traffic              // the fronts whose live counters are added
	queued   int                  // reloads waiting for the attempt in flight
}

// member is a serving instance; its slot is in.slot.
type member struct {
	in           *instance
	servingSince time.Time
	stopHealth   context.CancelFunc
	unhealthy    bool // failed its health checks; a replacement is being started
}

// A waiter is a caller blocked on an attempt. firstTry callers (the
// supervisor's Start) are answered by the first try's result; others when
// the attempt succeeds or gives up.
type waiter struct {
	reply    chan<- outcome // buffered: answering never blocks the loop
	firstTry bool
}

type outcome struct {
	res ReloadResult
	err error
}

type sentOutcome struct {
	to chan<- outcome
	o  outcome
}

// send answers a caller once this loop step is done (see refresh), so a
// caller that then asks for the status sees what it was told.
func (a *app) send(to chan<- outcome, o outcome) {
	if to == nil {
		return
	}
	a.outbox = append(a.outbox, sentOutcome{to, o})
}

func newApp(s *Supervisor, cfg config.App, f *front) *app {
	abort, abortNow := context.WithCancel(context.Background())
	a := &app{
		name: cfg.Name, d: s.d, logger: s.logger.With("app", cfg.Name),
		inbox: make(chan message), dead: make(chan struct{}), finished: make(chan struct{}),
		abort: abort, abortNow: abortNow, hurry: make(chan struct{}),
		cfg: cfg, front: f, serving: map[int]*member{}, retired: make(map[*instance]bool),
		state: AppStopped, since: time.Now(),
		counters: counters{reloadSeconds: newHistogram(ReloadBuckets)},
		traffic:  traffic{open: []*front{f}},
	}
	a.view.Store(a.snapshot())
	return a
}

// run starts the app's loop and its front's proxy.
func (a *app) run() {
	a.wg.Add(1)
	go serveFront(a.front, a.logger, &a.wg)
	go appLoop(a)
}

// appLoop handles every message sent to the app, one at a time, until the
// app is terminated and has no instance left; then it waits for helpers.
func appLoop(a *app) {
	for !(a.terminating() && a.idle()) {
		select {
		case m := <-a.inbox:
			a.handle(m)
		case <-a.retry.c():
			a.retry.t = nil
			a.launch()
		case <-a.window.c():
			a.window.t = nil
			a.endWindow()
		}
		a.refresh()
	}
	// Every instance has exited: what connections are left can only finish
	// delivering what the instance last sent.
	ctx, cancel := context.WithTimeout(a.abort, lastFrontGrace)
	closeFront(ctx, a.front, closedChan, nil)
	cancel()
	close(a.dead)
	a.wg.Wait()
	a.abortNow()
	close(a.finished)
}

// lastFrontGrace bounds how long a terminated app's listener waits for its
// last connections once every instance has exited (a client that keeps a
// half-closed connection open would otherwise hold up the shutdown).
const lastFrontGrace = time.Second

// closedChan is a channel that is always closed.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// status is the loop's last snapshot with live instance states and
// connection counts. Safe to call from any goroutine.
func (a *app) status() (AppStatus, error) {
	select {
	case <-a.dead:
		return AppStatus{}, errAppGone
	default:
	}
	v := a.view.Load()
	st := v.st
	st.Instances = slices.Clone(v.st.Instances)
	for i, bs := range v.backends {
		st.Instances[i].Connections = conns(bs)
	}
	return st, nil
}

// terminating reports whether the app was terminated (see doTerminate).
// terminating: the app is ending (Shutdown, removal, Handover); its loop
// ends once no instance is left.
func (a *app) terminating() bool { return a.leaving }

func (a *app) idle() bool {
	return len(a.serving) == 0 && a.attempt == nil && len(a.retired) == 0
}

// derive is the app state its fields imply.
func (a *app) derive() AppState {
	switch {
	case len(a.serving) > 0 && a.attempt != nil && a.attempt.reload:
		return AppReloading
	case len(a.serving) > 0:
		return AppRunning
	case a.attempt != nil && a.attempt.busy():
		return AppStarting
	case a.attempt != nil:
		return AppBackoff
	case a.want:
		return AppFatal
	}
	return AppStopped
}

// refresh records a state change after every step of the loop.
func (a *app) refresh() {
	if s := a.derive(); s != a.state {
		a.logger.Info("app state", "from", a.state, "to", s)
		a.state, a.since = s, time.Now()
	}
	a.flushEvents()
	a.view.Store(a.snapshot())
	for _, r := range a.outbox {
		r.to <- r.o // buffered: never blocks the loop
	}
	clear(a.outbox)
	a.outbox = a.outbox[:0]
	if a.idle() {
		for _, c := range a.stopWaiters {
			close(c)
		}
		a.stopWaiters = nil
	}
}

// snapshot is the app's status; it runs on the loop.
func (a *app) snapshot() *statusView {
	v := &statusView{st: AppStatus{
		Name: a.name, State: a.state, External: a.front.addr(), Restarts: max(a.adopted-a.filled, 0),
		Since: a.since, LastError: a.lastErr, LastReload: a.lastReload, Reason: a.reason, Instances: []InstanceStatus{},
		Containment: a.d.contain.Mode(),
	}, metrics: a.counters.snapshot(), traffic: a.traffic.clone(), queued: len(a.queued)}
	add := func(in *instance) {
		bs := backends(in)
		v.st.Instances = append(v.st.Instances, InstanceStatus{
			Slot: in.slot, PID: in.pid, Port: in.port, State: in.state, StartedAt: in.startedAt, Connections: conns(bs),
		})
		v.backends = append(v.backends, bs)
	}
	for _, m := range a.members() {
		add(m.in)
	}
	if at := a.attempt; at != nil {
		for _, slot := range slices.Sorted(maps.Keys(at.starting)) {
			add(at.starting[slot].in)
		}
	}
	retired := slices.SortedFunc(maps.Keys(a.retired), func(x, y *instance) int {
		return x.startedAt.Compare(y.startedAt)
	})
	for _, in := range retired {
		add(in)
	}
	return v
}
