package daemon

import (
	"context"
	"errors"
	"fmt"
	"github.com/gracevisor/gracevisor/cmd/internal/apiserver"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/sdnotify"
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
}

// Options are what Run needs from main.
type Options struct {
	Dir      string         // the config directory, for updates
	Config   *config.Config // loaded from Dir
	Log      *slog.Logger
	Security *apiserver.Security // the control API's access policy
	Version  string              // of this gracevisord
	// Signals receives SIGTERM, SIGINT (shut down) and SIGHUP (update);
	// main subscribes it before anything starts, so an early SIGTERM still
	// stops apps. Run also puts back signals it must handle later, so it
	// needs a buffered channel it may send on.
	Signals chan os.Signal
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
	lns, err := apiserver.Listen(cfg.RPC)
	if err != nil {
		return fmt.Errorf("control API: %w", err)
	}
	maxConns := apiserver.ConnCap(cfg.RPC.MaxConnections, nofile)
	lns = apiserver.LimitListeners(lns, maxConns)
	r.refusals = apiserver.NewRefusalLog(log)
	defer r.refusals.Close() // after the API stopped: the last counts are logged

	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.sup = procs.New(cfg, log)
	r.d = newDaemon(o.Dir, cfg, r.sup, log)
	r.ops = startOps(r.d, r.sup, log, o.Version, r.refusals.Collector())
	defer r.ops.stop() // after the apps have stopped: their last alerts still go out
	if err := r.start(base); err != nil {
		apiserver.CloseAll(lns)
		r.stopApps()
		if errors.Is(err, errStartInterrupted) {
			return nil
		}
		return fmt.Errorf("start: %w", err)
	}
	srv := r.newServer(base)
	var apiAddrs []string
	for _, ln := range lns {
		go apiserver.Serve(srv, ln, r.serveErr)
		apiAddrs = append(apiAddrs, ln.Addr().Network()+":"+ln.Addr().String())
	}
	if cfg.RPC.Socket != "" { // the listener's own address is the private name it was bound at
		apiAddrs[len(apiAddrs)-1] = "unix:" + cfg.RPC.Socket
	}
	log.Info("gracevisord started", "version", o.Version, "conf", cfg.File, "api", apiAddrs,
		"api_max_connections", maxConns, "apps", len(cfg.Apps))
	r.ops.notify(sdnotify.Ready)

	loopErr := r.loop(base)
	r.ops.notify(sdnotify.Stopping)
	cancel() // ends log follows, refuses new operations
	r.stopApps()
	close(r.stopped)
	r.stopAPI(srv)
	r.updates.Wait()
	log.Info("gracevisord stopped")
	return loopErr
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

func (r *runner) newServer(base context.Context) *http.Server {
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

// loop runs until a shutdown is asked for; SIGHUP starts an update.
func (r *runner) loop(base context.Context) error {
	for {
		select {
		case sig := <-r.sigs:
			if sig == syscall.SIGHUP {
				r.updates.Add(1)
				r.ops.beginReload() // counted now, so READY=1 waits for this one too
				go r.updateOnSignal(base)
				continue
			}
			r.log.Info("shutting down", "signal", sig.String())
			return nil
		case <-r.shutdownReq:
			r.log.Info("shutting down", "requested_by", "api")
			return nil
		case err := <-r.serveErr:
			return fmt.Errorf("control API: %w", err)
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
}

// stopApps stops every app gracefully. A second SIGTERM/SIGINT cancels the
// graceful stop, so the supervisor kills what is left.
func (r *runner) stopApps() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go shutdownSupervisor(ctx, r.sup, done)
	for {
		select {
		case err := <-done:
			if err != nil {
				r.log.Error("stopping apps", "err", err)
			}
			return
		case sig := <-r.sigs:
			if sig != syscall.SIGHUP {
				r.log.Warn("second signal: killing apps now", "signal", sig.String())
				cancel()
			}
		}
	}
}

func shutdownSupervisor(ctx context.Context, sup *procs.Supervisor, done chan<- error) {
	done <- sup.Shutdown(ctx)
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
