package procs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/ports"
)

// Supervisor runs every app of a config: its instances and its external
// listener. It is safe for concurrent use. Start, Update and Shutdown are
// serialized; the per-app operations may run concurrently with anything.
type Supervisor struct {
	logger *slog.Logger
	d      *deps // shared with every app; d.ports's range follows port_range

	opMu sync.Mutex // serializes Start, Update and Shutdown

	mu sync.Mutex // guards the fields below
	// configs are the apps as New or the last Update gave them, in config
	// order: what Start starts and what the next Update is compared with.
	// Each running app owns its own copy (app.cfg) from then on.
	configs []config.App
	apps    map[string]*app
	started bool
	shut    bool
	strict  bool // Start fails if an app's first try does (TakeOver)
	// adds are the apps an Update is adding, in config order, while it
	// runs: they are not in configs until it returns, nor in apps until bound.
	adds []*addition
	// scaled are the apps a Scale changed since the last Update: the next
	// one gives them the file's instance count even if the file did not
	// change.
	scaled map[string]bool
}

// An addition is an app an Update is adding. Operations on it wait for
// bound rather than fail: the Update may first stop removed apps and
// reload changed ones, which takes a while.
type addition struct {
	cfg   config.App
	bound chan struct{} // closed once the app is in apps, or could not be bound
}

// New returns a Supervisor for cfg's apps and port_range; it keeps no
// reference to cfg. Nothing runs until Start.
func New(cfg *config.Config, logger *slog.Logger) *Supervisor {
	return &Supervisor{
		logger: logger,
		d: &deps{
			ports:  ports.New(cfg.PortRange.From, cfg.PortRange.To),
			logs:   newLogFiles(logger),
			logger: logger,
			timing: defaultTiming,
		},
		configs: slices.Clone(cfg.Apps),
		apps:    make(map[string]*app),
		scaled:  make(map[string]bool),
	}
}

// Start binds every app's external listener (if any bind fails it closes
// them all and returns "listen APP on HOST:PORT: …"), then starts every app
// in parallel. Listeners serve at once: a client that connects before its
// app is ready waits up to connect_timeout. Start returns once every app
// has its first instance ready or its first try failed; a failed app goes
// on retrying in the background (BACKOFF, then RUNNING or FATAL), its
// failure is logged and shown by Status. If ctx ends first, Start returns
// ctx.Err() and the apps go on starting; call Shutdown to stop them.
func (s *Supervisor) Start(ctx context.Context) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	if s.started || s.shut {
		s.mu.Unlock()
		return errors.New("supervisor already started (or shut down)")
	}
	cfgs := s.configs
	s.mu.Unlock()

	fronts := make([]*front, 0, len(cfgs))
	for i := range cfgs {
		f, err := openFront(&cfgs[i], s.logger, s.d.listen, s.d.acceptWhenReady)
		if err != nil {
			for _, f := range fronts {
				f.closeListener()
			}
			return err
		}
		fronts = append(fronts, f)
	}
	if s.d.sys == nil { // tests may have set a fake
		s.d.sys = newRealSystem(s.d.contain)
	}
	apps := make([]*app, len(cfgs))
	s.mu.Lock()
	s.started = true
	for i, cfg := range cfgs {
		apps[i] = newApp(s, cfg, fronts[i])
		s.apps[cfg.Name] = apps[i]
		apps[i].run()
	}
	s.mu.Unlock()
	return s.startAll(ctx, apps)
}

// startAll asks every app to start and waits for each first try. A failed
// app retries in the background; with TakeOver (strict) Start fails.
func (s *Supervisor) startAll(ctx context.Context, apps []*app) error {
	errs, err := s.firstTries(ctx, apps)
	if err != nil {
		return err
	}
	var failed []error
	for i, a := range apps {
		switch {
		case errs[i] != nil && s.strict:
			failed = append(failed, fmt.Errorf("%s: %w", a.name, errs[i]))
		case errs[i] != nil:
			s.logger.Error("first start failed; retrying in the background", "app", a.name, "err", errs[i])
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %w", errFirstStart, errors.Join(failed...))
	}
	return nil
}

// firstTries asks every app to start and returns each one's first try's
// error (nil: it serves), or an error when ctx ends first.
func (s *Supervisor) firstTries(ctx context.Context, apps []*app) ([]error, error) {
	replies := make([]chan outcome, len(apps))
	for i, a := range apps {
		replies[i] = make(chan outcome, 1)
		w := waiter{reply: replies[i], firstTry: true}
		select {
		case a.inbox <- startReq{w}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	errs := make([]error, len(apps))
	for i := range apps {
		select {
		case o := <-replies[i]:
			errs[i] = o.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return errs, nil
}

// Shutdown stops accepting on every listener, stops every app gracefully
// (drain up to drain_timeout, stop_signal, stop_timeout, SIGKILL of the
// group) and releases everything. When ctx ends first, remaining drains end
// and remaining instances are SIGKILLed at once; Shutdown then returns
// ctx.Err() after they have exited. Calling it again is a no-op.
func (s *Supervisor) Shutdown(ctx context.Context) error {
	return s.end(ctx, terminateReq{})
}

// end sends every app msg (terminate or handover), waits until each has
// ended and releases everything; the first call wins.
func (s *Supervisor) end(ctx context.Context, msg message) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	if s.shut || !s.started {
		s.shut = true
		s.mu.Unlock()
		return nil
	}
	s.shut = true
	apps := s.appList()
	s.mu.Unlock()
	s.terminate(ctx, apps, msg)
	s.d.sys.close()
	return ctx.Err()
}

// terminate sends apps msg (terminateReq, or handoverReq) in parallel and
// waits until each loop has ended.
func (s *Supervisor) terminate(ctx context.Context, apps []*app, msg message) {
	for _, a := range apps {
		stop := context.AfterFunc(ctx, a.abortNow)
		defer stop()
		a.post(msg)
	}
	for _, a := range apps {
		<-a.finished
	}
}

// appList returns the apps in config order; s.mu must be held.
func (s *Supervisor) appList() []*app {
	var apps []*app
	for _, c := range s.configs {
		if a := s.apps[c.Name]; a != nil {
			apps = append(apps, a)
		}
	}
	return apps
}

// lookup returns the running app called name, without waiting for an
// app that an Update is adding.
func (s *Supervisor) lookup(name string) (*app, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, add, err := s.lookupLocked(name)
	if add != nil {
		return nil, fmt.Errorf("%s: %w", name, ErrBeingAdded)
	}
	return a, err
}

// await is lookup for an operation on one app: an app that an Update is
// adding is waited for until it is bound (so the operation acts on it, and
// a start joins its first start), or until ctx ends.
func (s *Supervisor) await(ctx context.Context, name string) (*app, error) {
	for {
		s.mu.Lock()
		a, add, err := s.lookupLocked(name)
		s.mu.Unlock()
		if add == nil {
			return a, err
		}
		select {
		case <-add.bound:
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w: %w", name, ErrBeingAdded, ctx.Err())
		}
	}
}

// lookupLocked finds the app called name; s.mu must be held. add is set,
// and the rest zero, when an Update is adding the app and has not bound it yet.
func (s *Supervisor) lookupLocked(name string) (a *app, add *addition, err error) {
	if s.shut && s.configured(name) {
		return nil, nil, fmt.Errorf("%s: supervisor is shut down", name)
	}
	if a := s.apps[name]; a != nil {
		return a, nil, nil
	}
	if add := s.addition(name); add != nil {
		select {
		case <-add.bound:
			return nil, nil, fmt.Errorf("%w: %s (the update that adds it could not bind its address)", ErrUnknownApp, name)
		default:
			return nil, add, nil
		}
	}
	switch {
	case !s.configured(name):
		return nil, nil, fmt.Errorf("%w: %s", ErrUnknownApp, name)
	case s.started:
		// Only an Update removes a configured app from apps, before it
		// stops it; configs follows when the Update returns.
		return nil, nil, fmt.Errorf("%w: %s (an update is removing it)", ErrUnknownApp, name)
	}
	return nil, nil, fmt.Errorf("%s: supervisor is not running", name)
}

// configured reports whether name is in configs; s.mu must be held.
func (s *Supervisor) configured(name string) bool {
	return slices.ContainsFunc(s.configs, func(c config.App) bool { return c.Name == name })
}

// addition returns the addition of the app called name, nil if an Update
// is not adding it; s.mu must be held.
func (s *Supervisor) addition(name string) *addition {
	for _, add := range s.adds {
		if add.cfg.Name == name {
			return add
		}
	}
	return nil
}

// appNamed returns the app called name (nil if none) and whether the
// supervisor is shutting down, for status reads that must not fail then.
func (s *Supervisor) appNamed(name string) (a *app, shut bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apps[name], s.shut
}

// Status returns a snapshot of the named apps, or of all, in config order;
// while an Update adds apps, they come last, STOPPED until bound. An
// unknown name is an error wrapping ErrUnknownApp. Before Start every app
// is reported STOPPED.
func (s *Supervisor) Status(names ...string) ([]AppStatus, error) {
	s.mu.Lock()
	apps, started := s.knownApps(), s.started
	s.mu.Unlock()
	for _, n := range names {
		if !slices.ContainsFunc(apps, func(c *config.App) bool { return c.Name == n }) {
			return nil, fmt.Errorf("%w: %s", ErrUnknownApp, n)
		}
	}
	var out []AppStatus
	for _, c := range apps {
		if len(names) > 0 && !slices.Contains(names, c.Name) {
			continue
		}
		st := AppStatus{Name: c.Name, State: AppStopped, External: c.ExternalAddr(), Instances: []InstanceStatus{},
			Containment: s.d.contain.Mode()}
		// Not lookup: while a shutdown stops the apps, status still shows them.
		if a, shut := s.appNamed(c.Name); a != nil && started {
			got, err := a.status()
			switch {
			case err == nil:
				st = got
			case !shut:
				continue // removed meanwhile
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// knownApps is the configured apps, then those an Update is adding;
// s.mu must be held.
func (s *Supervisor) knownApps() []*config.App {
	apps := make([]*config.App, 0, len(s.configs)+len(s.adds))
	for i := range s.configs {
		apps = append(apps, &s.configs[i])
	}
	for _, add := range s.adds {
		apps = append(apps, &add.cfg)
	}
	return apps
}

// StartApp starts a stopped or FATAL app and blocks until it serves or
// has given up (FATAL, after max_retries); no-op if it is running. A
// starting app (or one in BACKOFF, which then retries at once) is waited for.
func (s *Supervisor) StartApp(ctx context.Context, name string) error {
	_, err := s.Do(ctx, OpStart, name)
	return err
}

// StopApp stops the app gracefully: its listener refuses new connections
// at once, the serving instance drains (drain_timeout), gets stop_signal
// and, after stop_timeout, SIGKILL to its process group. It blocks until
// every instance of the app has exited; no-op if it is stopped.
func (s *Supervisor) StopApp(ctx context.Context, name string) error {
	_, err := s.Do(ctx, OpStop, name)
	return err
}

// RestartApp is a hard restart: StopApp, then StartApp.
func (s *Supervisor) RestartApp(ctx context.Context, name string) error {
	_, err := s.Do(ctx, OpRestart, name)
	return err
}

// Op is an operation on one app that callers ask for by name.
type Op string

// The operations Do runs.
const (
	OpStart   Op = "start"   // StartApp
	OpStop    Op = "stop"    // StopApp
	OpRestart Op = "restart" // RestartApp
)

// Do runs op on the app called name, as StartApp, StopApp or RestartApp
// describe, and returns what this operation produced, as of when it
// finished: a concurrent operation may have changed the app since (Status
// shows that), so a caller that reports the outcome of its own request
// reports the result, not a later status. An app that an Update is adding
// is waited for (see await).
func (s *Supervisor) Do(ctx context.Context, op Op, name string) (OpResult, error) {
	switch op {
	case OpStart:
		return s.start(ctx, name)
	case OpStop:
		return s.stop(ctx, name)
	case OpRestart:
		if res, err := s.stop(ctx, name); err != nil {
			return res, err
		}
		return s.start(ctx, name)
	}
	return OpResult{}, fmt.Errorf("%s: unknown operation %q", name, op)
}

func (s *Supervisor) start(ctx context.Context, name string) (OpResult, error) {
	a, err := s.await(ctx, name)
	if err != nil {
		return OpResult{}, err
	}
	reply := make(chan outcome, 1)
	o, err := a.request(ctx, startReq{waiter{reply: reply}}, reply)
	if err := firstErr(name, err, o.err); err != nil {
		return OpResult{}, err
	}
	return OpResult{App: name, State: AppRunning, PID: o.res.PID, Port: o.res.Port}, nil
}

func (s *Supervisor) stop(ctx context.Context, name string) (OpResult, error) {
	a, err := s.await(ctx, name)
	if err != nil {
		return OpResult{}, err
	}
	done, ack := make(chan struct{}), make(chan outcome, 1)
	_, err = a.request(ctx, stopReq{done, ack}, ack)
	if err != nil {
		return OpResult{}, firstErr(name, err, nil)
	}
	select {
	case <-done:
		return OpResult{App: name, State: AppStopped}, nil
	case <-ctx.Done():
		return OpResult{}, fmt.Errorf("stop %s: %w", name, ctx.Err())
	}
}

// Reload replaces the app's instance without dropping a connection: a new
// instance starts on a new port; once it is ready new connections go to it
// and the old one drains and stops. Reload blocks until the new instance
// serves, or until max_retries further tries have failed (the error says
// so; the old instance served throughout). A stopped or FATAL app is
// started instead. Reloads asked for while one is in flight are coalesced
// into a single fresh reload that begins when the in-flight one ends, so
// every caller gets an instance started after its request.
func (s *Supervisor) Reload(ctx context.Context, name string) (ReloadResult, error) {
	a, err := s.await(ctx, name)
	if err != nil {
		return ReloadResult{}, err
	}
	reply := make(chan outcome, 1)
	o, err := a.request(ctx, reloadReq{waiter{reply: reply}}, reply)
	return o.res, firstErr(name, err, o.err)
}

// firstErr maps a request error (the loop is gone, ctx ended) or the
// operation's own error to what callers see.
func firstErr(name string, reqErr, opErr error) error {
	switch {
	case errors.Is(reqErr, errAppGone):
		return fmt.Errorf("%w: %s (removed)", ErrUnknownApp, name)
	case reqErr != nil:
		return fmt.Errorf("%s: %w", name, reqErr)
	}
	return opErr
}
