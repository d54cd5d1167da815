package main

import (
	"log/slog"
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gracevisor/gracevisor/procs"
)

// metricsSource is what the collector reads at scrape time.
type metricsSource interface {
	Metrics(names ...string) ([]procs.AppMetrics, error)
}

// appStates and instanceStates are every state, so that a state gauge
// reads 0 rather than vanishing when an app leaves it.
var (
	appStates      = []procs.AppState{procs.AppStopped, procs.AppStarting, procs.AppRunning, procs.AppReloading, procs.AppBackoff, procs.AppFatal}
	instanceStates = []procs.InstanceState{procs.InstStarting, procs.InstServing, procs.InstDraining, procs.InstStopping, procs.InstExited}
)

// appCollector turns supervisor snapshots into Prometheus metrics at scrape
// time, so that nothing is mirrored or can drift. Safe for concurrent use.
type appCollector struct {
	src metricsSource

	state, instances, since               *prometheus.Desc
	connsOpen, accepted, failed, waited   *prometheus.Desc
	acceptErrors, bytes                   *prometheus.Desc
	crashes, restarts, reloads, reloadDur *prometheus.Desc
	healthFailures, unhealthy, restartsSt *prometheus.Desc
}

func newAppCollector(src metricsSource) *appCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("gracevisor_app_"+name, help, append([]string{"app"}, labels...), nil)
	}
	return &appCollector{
		src:            src,
		state:          d("state", "1 for the app's current state, 0 for the others.", "state"),
		instances:      d("instances", "Instances of the app by state.", "state"),
		since:          d("state_since_seconds", "Unix time the app entered its current state."),
		connsOpen:      d("connections_open", "Client connections open now."),
		accepted:       d("connections_accepted_total", "Client connections accepted."),
		failed:         d("connections_failed_total", "Client connections closed without reaching an instance."),
		waited:         d("connections_waited_total", "Client connections that had to wait for a ready instance (start, crash restart)."),
		acceptErrors:   d("accept_errors_total", "Failed accepts on the app's listener (e.g. out of file descriptors)."),
		bytes:          d("bytes_total", "Bytes proxied: in = client to app, out = app to client; counted when a direction of a connection ends.", "direction"),
		crashes:        d("crashes_total", "Exits of a serving instance."),
		restarts:       d("restarts_total", "Instances started to replace a crashed one or to retry a failed start."),
		reloads:        d("reloads_total", "Reloads (reload, update, replacement of an unhealthy instance) by outcome.", "outcome"),
		reloadDur:      d("reload_duration_seconds", "Time from a reload request to the switch of traffic, successful reloads."),
		healthFailures: d("healthcheck_failures_total", "Failed health checks of serving instances."),
		unhealthy:      d("unhealthy_total", "Instances replaced because they failed healthcheck_failures checks in a row."),
		restartsSt:     d("instances_adopted_total", "Instances that took over serving after the first one (status's restarts)."),
	}
}

func (c *appCollector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{c.state, c.instances, c.since, c.connsOpen, c.accepted, c.failed, c.waited,
		c.acceptErrors, c.bytes, c.crashes, c.restarts, c.reloads, c.reloadDur, c.healthFailures, c.unhealthy, c.restartsSt}
}

// Describe implements prometheus.Collector.
func (c *appCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one snapshot of every app.
func (c *appCollector) Collect(ch chan<- prometheus.Metric) {
	apps, err := c.src.Metrics()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.state, err)
		return
	}
	for i := range apps {
		c.collectApp(ch, &apps[i])
	}
}

func (c *appCollector) collectApp(ch chan<- prometheus.Metric, m *procs.AppMetrics) {
	app := m.Status.Name
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{app}, labels...)...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{app}, labels...)...)
	}
	for _, s := range appStates {
		gauge(c.state, boolFloat(m.Status.State == s), string(s))
	}
	byState := map[procs.InstanceState]int{}
	for _, in := range m.Status.Instances {
		byState[in.State]++
	}
	for _, s := range instanceStates {
		gauge(c.instances, float64(byState[s]), string(s))
	}
	if !m.Status.Since.IsZero() {
		gauge(c.since, float64(m.Status.Since.UnixMilli())/1000)
	}
	t := m.Traffic
	gauge(c.connsOpen, float64(t.Active))
	counter(c.accepted, t.Accepted)
	counter(c.failed, t.Failed)
	counter(c.waited, t.Waited)
	counter(c.acceptErrors, t.AcceptErrors)
	counter(c.bytes, t.BytesIn, "in")
	counter(c.bytes, t.BytesOut, "out")
	counter(c.crashes, m.Crashes)
	counter(c.restarts, m.Restarts)
	counter(c.reloads, m.ReloadsOK, "ok")
	counter(c.reloads, m.ReloadsFailed, "failed")
	counter(c.healthFailures, m.HealthcheckFailures)
	counter(c.unhealthy, m.Unhealthy)
	counter(c.restartsSt, uint64(m.Status.Restarts))
	h := m.ReloadSeconds
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = h.Counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(c.reloadDur, h.Count, h.Sum, buckets, app)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// newMetricsHandler serves GET /metrics: the apps' figures, the daemon's
// build info, Go runtime and process collectors, and extra collectors
// (the alert dispatcher's).
func newMetricsHandler(src metricsSource, log *slog.Logger, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "gracevisor_build_info",
		Help:        "Always 1; the labels say which gracevisord runs.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	build.Set(1)
	reg.MustRegister(
		newAppCollector(src),
		build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	reg.MustRegister(extra...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}
