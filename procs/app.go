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
	ports    *ports.Allocator // the supervisor's
	logger   *slog.Logger
	inbox    chan func()
	dead     chan struct{}  // closed when appLoop stops taking functions
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
	troubled    bool          // crashed, failed or unhealthy since it last served well
	pending     []Event       // emitted, handed to the hook by refresh
	outbox      []sentOutcome // replies, sent by refresh once the status shows their effect
	counters    counters

	traffic traffic // safe for concurrent use
	// view is the status as of the loop's last step, so Status never waits
	// for a loop busy in a slow step (resolving a host, forking).
	view atomic.Pointer[statusView]
}

// statusView is a status snapshot plus what its live fields are read from.
type statusView struct {
	st        AppStatus
	instances []*instance
	backends  []*l4proxy.Backend // per instance; nil for none
	metrics   AppMetrics         // the loop-owned counters
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

type sentOutcome struct {
	to chan<- outcome
	o  outcome
}

// send answers a caller once this loop step is done (see refresh), so a
// caller that then asks for the status sees what it was told.
func (a *app) send(to chan<- outcome, o outcome) {
	a.outbox = append(a.outbox, sentOutcome{to, o})
}

func newApp(s *Supervisor, cfg config.App, f *front) *app {
	abort, abortNow := context.WithCancel(context.Background())
	a := &app{
		name: cfg.Name, d: s.d, timing: s.timing, ports: s.ports,
		logger: s.logger.With("app", cfg.Name),
		inbox:  make(chan func()), dead: make(chan struct{}), finished: make(chan struct{}),
		abort: abort, abortNow: abortNow, hurry: make(chan struct{}),
		cfg: cfg, front: f, retired: make(map[*instance]*l4proxy.Backend),
		state: AppStopped, since: time.Now(),
		counters: counters{reloadSeconds: newHistogram(ReloadBuckets)},
	}
	a.traffic.add(f)
	a.view.Store(a.snapshot())
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
	for i, in := range v.instances {
		if s := in.getState(); s == InstStopping || s == InstExited { // set outside the loop
			st.Instances[i].State = s
		}
		if b := v.backends[i]; b != nil {
			st.Instances[i].Connections = b.Conns()
		}
	}
	return st, nil
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
		Name: a.name, State: a.state, External: a.front.addr(), Restarts: max(a.adopted-1, 0),
		Since: a.since, LastError: a.lastErr, Instances: []InstanceStatus{},
	}}
	add := func(in *instance, b *l4proxy.Backend) {
		is := InstanceStatus{PID: in.pid, Port: in.port, State: in.getState(), StartedAt: in.startedAt}
		if b != nil {
			is.Connections = b.Conns()
		}
		v.st.Instances = append(v.st.Instances, is)
		v.instances = append(v.instances, in)
		v.backends = append(v.backends, b)
	}
	v.metrics = a.metricsSnapshot()
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
	return v
}
