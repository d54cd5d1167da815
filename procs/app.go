package procs

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/l4proxy"
	"github.com/gracevisor/gracevisor/ports"
)

// ErrStopped is wrapped by a start or reload that was cut short because the
// app was stopped (or removed, or the supervisor shut down) meanwhile.
var ErrStopped = errors.New("app was stopped")

// errAppGone: the app's loop has ended (the app was removed or shut down).
var errAppGone = errors.New("app was removed")

// An app is one supervised application. All of its state below the line is
// owned by one goroutine, appLoop. Callers and helper goroutines never touch
// it: they send functions for appLoop to run (request for callers that wait
// for an outcome, post for helpers reporting an event).
type app struct {
	name     string
	d        *deps
	timing   timing
	alloc    func() *ports.Allocator // the supervisor's current port allocator
	logger   *slog.Logger
	inbox    chan func()
	dead     chan struct{}  // closed when appLoop stops taking functions
	finished chan struct{}  // closed when appLoop and every helper have returned
	wg       sync.WaitGroup // helper goroutines
	// abort is canceled when a shutdown's deadline passes: drains end and
	// stops go straight to SIGKILL.
	abort    context.Context
	abortNow context.CancelFunc

	// ---- owned by appLoop ----
	cfg         config.App // config for the next instance
	front       *front
	want        bool                           // the operator wants it running (false: STOPPED)
	serving     *member                        // where new connections go, or nil
	attempt     *attempt                       // a new instance being started (or waiting to retry), or nil
	retired     map[*instance]*l4proxy.Backend // draining, stopping or discarded instances
	queued      []waiter                       // reloads asked for while an attempt was in flight
	stopWaiters []chan struct{}
	failures    int // consecutive failed starts (and short runs)
	adopted     int // instances that ever became serving
	retryTimer  *time.Timer
	retryC      <-chan time.Time
	terminating bool
	state       AppState
	since       time.Time
	lastErr     string
	troubled    bool    // crashed, failed or unhealthy since it last served well
	pending     []Event // emitted, handed to the hook by refresh
	counters    counters

	traffic traffic // safe for concurrent use
}

// member is the serving instance.
type member struct {
	in           *instance
	backend      *l4proxy.Backend
	servingSince time.Time
	stopHealth   context.CancelFunc
	unhealthy    bool // failed its health checks; a replacement is being started
}

// An attempt brings up a new instance: the first start, a restart after a
// crash, or a reload (reload: an instance serves throughout, and giving up
// leaves it serving). Between tries in is nil and the retry timer runs.
type attempt struct {
	reload  bool
	tries   int // failed tries of a reload
	begun   time.Time
	waiters []waiter
	in      *instance
	backend *l4proxy.Backend
	cancel  context.CancelFunc // ends the readiness wait
	front   *front             // a new front for a changed address or proxy options
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

func newApp(s *Supervisor, cfg config.App, f *front) *app {
	abort, abortNow := context.WithCancel(context.Background())
	a := &app{
		name: cfg.Name, d: s.d, timing: s.timing, alloc: s.allocator,
		logger: s.logger.With("app", cfg.Name),
		inbox:  make(chan func()), dead: make(chan struct{}), finished: make(chan struct{}),
		abort: abort, abortNow: abortNow,
		cfg: cfg, front: f, retired: make(map[*instance]*l4proxy.Backend),
		state: AppStopped, since: time.Now(),
		counters: counters{reloadSeconds: newHistogram(ReloadBuckets)},
	}
	a.traffic.add(f)
	return a
}

// run starts the app's loop and its front's proxy.
func (a *app) run() {
	a.wg.Add(1)
	go serveFront(a.front, a.logger, &a.wg)
	go appLoop(a)
}

// appLoop runs every function sent to the app, one at a time, until the
// app is terminated and has no instance left; then it waits for helpers.
func appLoop(a *app) {
	for !(a.terminating && a.idle()) {
		select {
		case fn := <-a.inbox:
			fn()
		case <-a.retryC:
			a.retryC = nil
			a.launch()
		}
		a.refresh()
	}
	closeFront(a.abort, a.front, closedChan, nil)
	close(a.dead)
	a.wg.Wait()
	a.abortNow()
	close(a.finished)
}

// closedChan is a channel that is always closed.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// post hands fn to the loop; it is dropped if the loop has ended.
func (a *app) post(fn func()) {
	select {
	case a.inbox <- fn:
	case <-a.dead:
	}
}

// request runs fn on the loop and waits for the outcome it sends. If ctx
// ends first the caller stops waiting; the operation itself goes on.
func (a *app) request(ctx context.Context, fn func(reply chan<- outcome)) (outcome, error) {
	reply := make(chan outcome, 1)
	select {
	case a.inbox <- func() { fn(reply) }:
	case <-a.dead:
		return outcome{}, errAppGone
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
	select {
	case o := <-reply:
		return o, nil
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
}

// status asks the loop for a snapshot.
func (a *app) status() (AppStatus, error) {
	reply := make(chan AppStatus, 1)
	select {
	case a.inbox <- func() { reply <- a.snapshot() }:
		return <-reply, nil
	case <-a.dead:
		return AppStatus{}, errAppGone
	}
}

func (a *app) idle() bool {
	return a.serving == nil && a.attempt == nil && len(a.retired) == 0
}

// derive is the app state its fields imply.
func (a *app) derive() AppState {
	switch {
	case a.serving != nil && a.attempt != nil:
		return AppReloading
	case a.serving != nil:
		return AppRunning
	case a.attempt != nil && a.attempt.in != nil:
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
	if a.idle() {
		for _, c := range a.stopWaiters {
			close(c)
		}
		a.stopWaiters = nil
	}
}

// snapshot is the app's status.
func (a *app) snapshot() AppStatus {
	st := AppStatus{
		Name: a.name, State: a.state, External: a.front.addr(), Restarts: max(a.adopted-1, 0),
		Since: a.since, LastError: a.lastErr, Instances: []InstanceStatus{},
	}
	add := func(in *instance, b *l4proxy.Backend) {
		is := InstanceStatus{PID: in.pid, Port: in.port, State: in.getState(), StartedAt: in.startedAt}
		if b != nil {
			is.Connections = b.Conns()
		}
		st.Instances = append(st.Instances, is)
	}
	if a.serving != nil {
		add(a.serving.in, a.serving.backend)
	}
	if a.attempt != nil && a.attempt.in != nil {
		add(a.attempt.in, a.attempt.backend)
	}
	retired := slices.SortedFunc(maps.Keys(a.retired), func(x, y *instance) int {
		return x.startedAt.Compare(y.startedAt)
	})
	for _, in := range retired {
		add(in, a.retired[in])
	}
	return st
}
