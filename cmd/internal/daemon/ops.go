package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gracevisor/gracevisor/cmd/internal/alerts"
	"github.com/gracevisor/gracevisor/cmd/internal/sdnotify"
	"github.com/gracevisor/gracevisor/cmd/internal/telemetry"
	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/procs"
)

// opsRuntime is what gracevisord tells the world about itself: systemd
// notifications, alert hooks, the statsd push and GET /metrics. serve
// starts it before the supervisor and stops it after every app has
// stopped, so that the events of a shutdown are still delivered.
type opsRuntime struct {
	log     *slog.Logger
	sd      *sdnotify.Notifier
	metrics http.Handler
	alerts  *alerts.Alerter
	statsd  *telemetry.Statsd

	reloadMu sync.Mutex // orders the RELOADING=1/READY=1 pairs of queued updates
	reloads  int        // updates begun and not yet done; guarded by reloadMu
}

// startOps hooks the alert dispatcher into sup (before sup.Start) and
// starts it and the statsd pusher; both read d's running config. extra
// collectors are served on GET /metrics too.
func startOps(d *daemon, sup *procs.Supervisor, log *slog.Logger, version string, extra ...prometheus.Collector) *opsRuntime {
	o := &opsRuntime{log: log, sd: sdnotify.New()}
	o.alerts = alerts.Start(log, "gracevisord/"+version, d.alertsFor)
	sup.SetEventHook(o.alerts.Notify)
	o.metrics = telemetry.NewHandler(sup, log, version, append([]prometheus.Collector{o.alerts.Collector()}, extra...)...)
	o.statsd = telemetry.StartStatsd(log, sup, func() config.Statsd { return d.config().Statsd })
	return o
}

// notify sends a systemd state; a failure is logged, never fatal.
func (o *opsRuntime) notify(state string) {
	if err := o.sd.Notify(state); err != nil {
		o.log.Warn("systemd notification failed", "state", state, "err", err)
	}
}

// beginReload sends RELOADING=1 for an update that was just queued. Safe
// for concurrent use.
func (o *opsRuntime) beginReload() {
	o.reloadMu.Lock()
	defer o.reloadMu.Unlock()
	o.reloads++
	o.notify(sdnotify.Reloading())
}

// endReload ends a RELOADING=1 with READY=1 once the last queued update is
// done — not while another still runs — unless shutdown (which cancels ctx
// and sent STOPPING=1) began meanwhile. Safe for concurrent use.
func (o *opsRuntime) endReload(ctx context.Context) {
	o.reloadMu.Lock()
	defer o.reloadMu.Unlock()
	if o.reloads--; o.reloads == 0 && ctx.Err() == nil {
		o.notify(sdnotify.Ready)
	}
}

// stop ends the statsd push and delivers the alerts still queued
// (bounded by alertDrainGrace). Call it once every app has stopped.
func (o *opsRuntime) stop() {
	o.statsd.Stop()
	o.alerts.Stop()
}
