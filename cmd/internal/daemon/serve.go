package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/cmd/internal/apiserver"
	"github.com/gracevisor/gracevisor/cmd/internal/sdnotify"
	"github.com/gracevisor/gracevisor/cmd/internal/upgrade"
	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/procs"
)

// apiShutdownTimeout bounds how long the control API waits for in-flight
// requests once every app has stopped.
const apiShutdownTimeout = 5 * time.Second

// runner is one run of the daemon, from start-up to exit. Not safe for
// concurrent use except where noted.
type runner struct {
	log     *slog.Logger
	version string
	sec     *apiserver.Security // the control API's access policy
	sup     *procs.Supervisor
	d       *daemon
	ops     *opsRuntime // systemd notifications, alerts, statsd, metrics
	sigs    chan os.Signal
	updates sync.WaitGroup // SIGHUP updates in flight

	refusals *apiserver.RefusalLog // refused API requests, logged at a bounded rate

	shutdownReq chan struct{} // API asks to shut down; buffered, never closed
	serveErr    chan error    // the API server stopped on its own
	stopped     chan struct{} // closed once every app has stopped

	up          *upgrade.Upgrader // nil: no upgrades
	state       daemonState
	upgrades    sync.WaitGroup // SIGUSR2 upgrades in flight
	logRotation LogRotation
}

// Options are what Run needs from main.
type Options struct {
	Dir      string         // the config directory, for updates
	Config   *config.Config // loaded from Dir
	Log      *slog.Logger
	Security *apiserver.Security // the control API's access policy
	Version  string              // of this gracevisord
	// Signals receives SIGTERM, SIGINT (shut down), SIGHUP (update) and
	// SIGUSR2 (upgrade); main subscribes it before anything starts, so an
	// early SIGTERM still stops apps. Run also puts back signals it must
	// handle later, so it needs a buffered channel it may send on.
	Signals chan os.Signal

	// Upgrader hands every listener to a successor daemon, and takes them
	// from the predecessor that started this one; nil: no upgrades.
	Upgrader *upgrade.Upgrader
	BuildID  string    // of this gracevisord
	Started  time.Time // when this process started
	// LogRotation pauses the daemon log's rotation while two daemons
	// append to it; nil: nothing to pause.
	LogRotation LogRotation
	// Containment holds the apps' instances (cgroups or process groups);
	// nil: process groups alone.
	Containment *procs.Containment
}

// LogRotation pauses and resumes the rotation of the daemon's log.
type LogRotation interface {
	Pause()
	Resume()
}

// Run binds the control API, starts the supervisor, then serves the API
// and runs until a shutdown signal or request. It returns an error if
// start-up or the API failed.
//
// The API is bound before any app starts, so that a bind failure changes
// nothing; it answers only once every app was started (connections made
// meanwhile wait in the kernel's backlog), so its first answers never show
// apps that were not started yet.
func Run(o Options) error {
	cfg, log := o.Config, o.Log
	nofile := apiserver.OpenFileLimit(log)
	r := &runner{
		log:         log,
		version:     o.Version,
		sec:         o.Security,
		sigs:        o.Signals,
		shutdownReq: make(chan struct{}, 1),
		serveErr:    make(chan error, 1),
		stopped:     make(chan struct{}),
	}
	r.up, r.logRotation = o.Upgrader, o.LogRotation
	var listen apiserver.Inherit
	if r.up != nil {
		listen = inherit(r.up)
		r.up.Progress(upgrade.Step{Kind: upgrade.StepStarted, PID: os.Getpid(), Version: o.Version})
	}
	lns, err := apiserver.Listen(cfg.RPC, listen)
	if err != nil {
		return r.failed(fmt.Errorf("control API: %w", err))
	}
	raw := lns // handed over as they are; served through the cap
	maxConns := apiserver.ConnCap(cfg.RPC.MaxConnections, nofile)
	lns = r.sec.WrapTLS(apiserver.LimitListeners(lns, maxConns))
	r.refusals = apiserver.NewRefusalLog(log)
	defer r.refusals.Close() // after the API stopped: the last counts are logged

	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.sup = procs.New(cfg, log)
	r.sup.Contain(o.Containment)
	r.takeListeners(listen)
	r.d = newDaemon(o.Dir, cfg, r.sup, log)
	r.ops = startOps(r.d, r.sup, log, o.Version, r.refusals.Collector())
	defer r.ops.stop() // after the apps have stopped: their last alerts still go out
	if err := r.start(base); err != nil {
		if r.up != nil && r.up.HasParent() {
			r.up.Failed(fmt.Errorf("start: %w", err)) // before the stop: the parent waits for it
		}
		apiserver.CloseAll(lns)
		r.stopApps()
		if errors.Is(err, errStartInterrupted) {
			return nil
		}
		return fmt.Errorf("start: %w", err)
	}
	srv := r.newServer(base, o)
	var apiAddrs []string
	for _, ln := range lns {
		go apiserver.Serve(srv, ln, r.serveErr)
		apiAddrs = append(apiAddrs, ln.Addr().Network()+":"+ln.Addr().String())
	}
	if cfg.RPC.Socket != "" { // the listener's own address is the private name it was bound at
		apiAddrs[len(apiAddrs)-1] = "unix:" + cfg.RPC.Socket
	}
	log.Info("gracevisord started", "version", o.Version, "conf", cfg.File, "api", apiAddrs, "api_tls", r.sec.TLS(),
		"api_max_connections", maxConns, "apps", len(cfg.Apps), "upgraded_from_a_running_daemon", r.up != nil && r.up.HasParent())
	r.ready()

	handover, loopErr := r.loop(base)
	if handover {
		r.handOver(cancel, srv, raw)
		return nil
	}
	r.state.set(api.DaemonStopping)
	r.delayShutdown(r.d.config().ShutdownDelay)
	r.ops.notify(sdnotify.Stopping)
	cancel() // ends log follows, refuses new operations
	if r.up != nil {
		r.up.Stop() // an upgrade under way ends: its new daemon is killed
	}
	r.stopApps()
	close(r.stopped)
	r.stopAPI(srv)
	r.updates.Wait()
	r.upgrades.Wait()
	log.Info("gracevisord stopped")
	return loopErr
}

// failed reports a start-up failure to the daemon that is upgrading to
// this one, if any, and returns err.
func (r *runner) failed(err error) error {
	if r.up != nil && r.up.HasParent() {
		r.up.Failed(err)
	}
	return err
}

// takeListeners makes the apps' listeners come through the upgrader, so
// they can be handed over; a daemon started by an upgrade takes them over
// (see procs.Supervisor.TakeOver).
func (r *runner) takeListeners(listen apiserver.Inherit) {
	if listen == nil {
		return
	}
	hook := func(addr string, bind func() (net.Listener, error)) (net.Listener, error) {
		return listen("tcp", addr, bind)
	}
	if r.up.HasParent() {
		r.sup.TakeOver(hook)
	} else {
		r.sup.SetListen(hook)
	}
}

// ready tells systemd and, after an upgrade, the previous daemon that this
// one serves. A daemon started by an upgrade is the service's main process
// from now on (MAINPID), and rotates its log only once its predecessor is
// gone.
func (r *runner) ready() {
	if r.up == nil || !r.up.HasParent() {
		if r.up != nil {
			r.up.Ready() // writes nothing to anybody in a first daemon; can't fail
		}
		r.ops.notify(sdnotify.Ready)
		return
	}
	for _, st := range r.statusOrNil() {
		r.up.Progress(upgrade.Step{Kind: upgrade.StepAppReady, App: st.Name})
	}
	if err := r.up.Ready(); err != nil {
		r.log.Error("could not tell the previous daemon that this one serves", "err", err)
	}
	r.ops.notify(sdnotify.ReadyAsMain())
	r.upgrades.Add(1)
	go r.rotateOncePredecessorGone()
}

func (r *runner) statusOrNil() []procs.AppStatus {
	st, _ := r.sup.Status()
	return st
}

// rotateOncePredecessorGone resumes the log's rotation (main starts a
// daemon started by an upgrade with it paused) once the previous daemon
// has exited: rotation never runs in two daemons at once.
func (r *runner) rotateOncePredecessorGone() {
	defer r.upgrades.Done()
	if err := r.up.WaitForParent(context.Background()); err != nil {
		r.log.Warn("the previous daemon ended badly", "err", err)
	}
	if r.logRotation != nil {
		r.logRotation.Resume()
	}
	r.log.Info("the previous daemon has exited")
}

// handOver ends this daemon after a successor took over: the API stops (the
// upgrade request in flight is answered first; the rpc.socket file stays,
// the successor serves on it), every app stops accepting, its connections
// finish (drain_timeout) and its instances stop. A second SIGTERM kills
// what is left.
func (r *runner) handOver(cancel context.CancelFunc, srv *http.Server, lns []net.Listener) {
	r.state.set(api.DaemonDraining)
	apiserver.HandedOver(lns)
	cancel()
	r.stopAPI(srv)
	r.drainApps()
	close(r.stopped)
	r.updates.Wait()
	r.upgrades.Wait()
	r.log.Info("gracevisord handed over and stopped")
}

// errStartInterrupted means a shutdown signal arrived during start-up.
var errStartInterrupted = errors.New("interrupted by a signal")

// start starts the supervisor; a SIGTERM/SIGINT during start-up cancels it.
// Signals are read from r.sigs only, so the one that interrupts start-up is
// consumed here exactly once and never taken later for a second, forcing
// one. Signals that must still count afterwards (a SIGHUP, a really second
// SIGTERM) are queued again for the loop or stopApps.
func (r *runner) start(base context.Context) error {
	ctx, cancel := context.WithCancel(base)
	defer cancel()
	done := make(chan error, 1)
	go startSupervisor(ctx, r.sup, done)
	var interrupted bool
	var later []os.Signal
	for {
		select {
		case err := <-done:
			r.requeue(later)
			switch {
			case !interrupted:
				return err
			case err != nil:
				return fmt.Errorf("%w: %w", errStartInterrupted, err)
			}
			return errStartInterrupted // every app was ready just as the signal came
		case sig := <-r.sigs:
			if sig == syscall.SIGHUP || interrupted {
				later = append(later, sig)
				continue
			}
			r.log.Info("start-up interrupted by a signal; stopping apps", "signal", sig.String())
			interrupted = true
			cancel()
		}
	}
}

func startSupervisor(ctx context.Context, sup *procs.Supervisor, done chan<- error) {
	done <- sup.Start(ctx)
}

// requeue puts signals back for whoever reads r.sigs next (buffered; a
// signal that does not fit is dropped, as the signal package would).
func (r *runner) requeue(sigs []os.Signal) {
	for _, sig := range sigs {
		select {
		case r.sigs <- sig:
		default:
		}
	}
}

func (r *runner) newServer(base context.Context, o Options) *http.Server {
	a := &apiserver.API{
		Sup:             r.sup,
		Update:          r.d.update,
		LogPath:         r.d.logPath,
		Log:             r.log,
		Version:         r.version,
		Base:            base,
		RequestShutdown: r.requestShutdown,
		Stopped:         r.stopped,
		Security:        r.sec,
		Metrics:         r.ops.metrics,
		Refusals:        r.refusals,
		Daemon: apiserver.Identity{BuildID: o.BuildID, StartedAt: o.Started, State: r.state.get,
			Containment: o.Containment.Mode()},
	}
	if r.up != nil {
		a.Upgrade = r.upgrade
	}
	return apiserver.NewServer(a.Handler(), r.log, apiserver.Limits{})
}

// requestShutdown is called by the API; safe for concurrent use.
func (r *runner) requestShutdown() {
	select {
	case r.shutdownReq <- struct{}{}:
	default: // already requested
	}
}

// loop runs until a shutdown is asked for (handover false) or a successor
// has taken over (handover true); SIGHUP starts an update, SIGUSR2 an
// upgrade.
func (r *runner) loop(base context.Context) (handover bool, err error) {
	var exit <-chan struct{} // closed once a successor serves
	if r.up != nil {
		exit = r.up.Exit()
	}
	for {
		select {
		case sig := <-r.sigs:
			switch sig {
			case syscall.SIGHUP:
				r.updates.Add(1)
				r.ops.beginReload() // counted now, so READY=1 waits for this one too
				go r.updateOnSignal(base)
				continue
			case syscall.SIGUSR2:
				r.upgrades.Add(1)
				go r.upgradeOnSignal()
				continue
			}
			r.log.Info("shutting down", "signal", sig.String())
			return false, nil
		case <-exit:
			return true, nil
		case <-r.shutdownReq:
			r.log.Info("shutting down", "requested_by", "api")
			return false, nil
		case err := <-r.serveErr:
			return false, fmt.Errorf("control API: %w", err)
		}
	}
}

// updateOnSignal applies the config files, as POST /api/v1/update does.
// The loop called r.ops.beginReload for it.
func (r *runner) updateOnSignal(ctx context.Context) {
	defer r.updates.Done()
	defer r.ops.endReload(ctx)
	changes, err := r.d.update(ctx)
	if err != nil {
		r.log.Error("SIGHUP update failed; running config unchanged", "err", err)
		return
	}
	r.log.Info("config updated (SIGHUP)", "added", changes.Added, "removed", changes.Removed, "changed", changes.Changed)
	for _, f := range changes.Failed {
		r.log.Error("SIGHUP update: app did not get ready", "app", f.App, "err", f.Error)
	}
}

// stopApps stops every app gracefully. A second SIGTERM/SIGINT cancels the
// graceful stop, so the supervisor kills what is left.
func (r *runner) stopApps() {
	r.endApps(r.sup.Shutdown, "stopping apps", "second signal: killing apps now")
}

// drainApps is stopApps after a hand-over: listeners close, connections
// finish (drain_timeout), instances stop; a SIGTERM/SIGINT meanwhile kills
// what is left.
func (r *runner) drainApps() {
	r.endApps(r.sup.Handover, "draining apps", "signal while draining: killing apps now")
}

// endApps runs end (Shutdown or Handover) until it returns; a SIGTERM or
// SIGINT meanwhile cancels its context, so the supervisor kills what is
// left. SIGHUP and SIGUSR2 are ignored by then.
func (r *runner) endApps(end func(context.Context) error, what, onSignal string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go endSupervisor(ctx, end, done)
	for {
		select {
		case err := <-done:
			if err != nil {
				r.log.Error(what, "err", err)
			}
			return
		case sig := <-r.sigs:
			if sig != syscall.SIGHUP && sig != syscall.SIGUSR2 {
				r.log.Warn(onSignal, "signal", sig.String())
				cancel()
			}
		}
	}
}

func endSupervisor(ctx context.Context, end func(context.Context) error, done chan<- error) {
	done <- end(ctx)
}

// stopAPI lets in-flight requests finish (the shutdown request itself is
// answered now that apps have stopped), then closes the API.
func (r *runner) stopAPI(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), apiShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		r.log.Warn("control API did not drain in time; closing", "err", err)
		srv.Close()
	}
}

// delayShutdown lets a balancer follow a shutdown: /healthz already answers
// 503 (stopping), and for d every listener keeps accepting and every app
// serving. A second SIGTERM/SIGINT ends the wait; SIGHUP and SIGUSR2 are
// ignored by then.
func (r *runner) delayShutdown(d time.Duration) {
	if d <= 0 {
		return
	}
	r.log.Info("shutting down: /healthz answers 503; apps serve on for shutdown_delay", "shutdown_delay", d)
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case sig := <-r.sigs:
			if sig != syscall.SIGHUP && sig != syscall.SIGUSR2 {
				r.log.Warn("second signal: stopping now", "signal", sig.String())
				return
			}
		}
	}
}
