package daemon

import (
	"context"
	"fmt"
	"github.com/gracevisor/gracevisor/cmd/internal/apiserver"
	"log/slog"
	"sync"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/procs"
)

// daemon owns the running configuration and the supervisor that runs it.
// It is safe for concurrent use; updates are serialized.
type daemon struct {
	dir string
	sup *procs.Supervisor
	log *slog.Logger

	updateMu sync.Mutex // held for a whole load+apply+store, so updates never interleave

	mu  sync.Mutex // guards cfg and pending
	cfg *config.Config
	// pending is the config an update is applying, nil between updates.
	// Alerts and logs consult it first: the app goroutines of added and
	// changed apps already run with its settings while Update blocks.
	pending *config.Config
}

func newDaemon(dir string, cfg *config.Config, sup *procs.Supervisor, log *slog.Logger) *daemon {
	return &daemon{dir: dir, cfg: cfg, sup: sup, log: log}
}

// config returns the configuration the supervisor currently runs. Callers
// must treat it as read-only.
func (d *daemon) config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// update re-reads the config directory and applies it: new apps start,
// removed apps stop, changed apps reload. An invalid config changes nothing
// and the returned error wraps apiserver.ErrInvalidConfig and the loader's error.
func (d *daemon) update(ctx context.Context) (procs.Changes, error) {
	d.updateMu.Lock()
	defer d.updateMu.Unlock()
	cfg, err := config.Load(d.dir)
	if err != nil {
		return procs.Changes{}, fmt.Errorf("%w: %w", apiserver.ErrInvalidConfig, err)
	}
	old := d.config()
	d.setPending(cfg)
	changes, err := d.sup.Update(ctx, cfg)
	// The supervisor adopts the new app definitions even when a reload of a
	// changed app fails (the old instance keeps serving, the new config is
	// its desired state), so the stored config follows it either way. An
	// added app that could not be bound is in cfg but not in the supervisor,
	// which logPath checks.
	d.mu.Lock()
	d.cfg, d.pending = cfg, nil
	d.mu.Unlock()
	d.warnRestartOnly(old, cfg)
	if err != nil {
		return changes, fmt.Errorf("update: %w", err)
	}
	return changes, nil
}

func (d *daemon) setPending(cfg *config.Config) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pending = cfg
}

// appConfig returns an app's settings: from the config being applied if it
// names the app (added or changed), else from the running one (unchanged,
// or removed and still stopping). It also reports whether the app is being
// added. Callers must treat it as read-only.
func (d *daemon) appConfig(name string) (a *config.App, adding bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	running := d.cfg.App(name)
	if d.pending != nil {
		if a := d.pending.App(name); a != nil {
			return a, running == nil
		}
	}
	return running, false
}

// alertsFor returns where an app's events go: its own alerts settings, or
// the global ones of the newest config for an app no config names.
func (d *daemon) alertsFor(app string) config.Alerts {
	if a, _ := d.appConfig(app); a != nil {
		return a.Alerts
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending != nil {
		return d.pending.Alerts
	}
	return d.cfg.Alerts
}

// warnRestartOnly logs settings that update cannot apply to a running daemon.
func (d *daemon) warnRestartOnly(old, cfg *config.Config) {
	if old.RPC != cfg.RPC {
		d.log.Warn("rpc settings changed (address, socket or token); restart gracevisord to apply", "running", old.RPC.Addr(), "configured", cfg.RPC.Addr())
	}
	if old.Log != cfg.Log {
		d.log.Warn("daemon logger settings changed; restart gracevisord to apply", "running", old.Log.Path, "configured", cfg.Log.Path)
	}
}

// logPath returns the log file of one stream of an app. The supervisor
// decides which apps exist (an added app whose address could not be bound
// is in the config but not running), except while an update adds the app:
// the supervisor lists it only once the update is done, but it is starting
// and writing its logs already.
func (d *daemon) logPath(app, stream string) (string, error) {
	a, adding := d.appConfig(app)
	if !adding {
		if _, err := d.sup.Status(app); err != nil {
			return "", err
		}
	}
	if a == nil {
		return "", fmt.Errorf("%w: %s", procs.ErrUnknownApp, app)
	}
	if stream == "stderr" {
		return a.Stderr.Path, nil
	}
	return a.Stdout.Path, nil
}
