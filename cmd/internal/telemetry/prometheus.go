package telemetry

import (
	"log/slog"
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gracevisor/gracevisor/procs"
)

// appCollector turns supervisor snapshots into Prometheus metrics at scrape
// time, so that nothing is mirrored or can drift. Safe for concurrent use.
type appCollector struct {
	src Source

	state, instances, since, reloadDur *prometheus.Desc
	figures                            map[string]*prometheus.Desc // by figure name
}

func appDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("gracevisor_app_"+name, help, append([]string{"app"}, labels...), nil)
}

func newAppCollector(src Source) *appCollector {
	c := &appCollector{
		src:       src,
		state:     appDesc("state", "1 for the app's current state, 0 for the others.", "state"),
		instances: appDesc("instances", "Instances of the app by state.", "state"),
		since:     appDesc("state_since_seconds", "Unix time the app entered its current state."),
		reloadDur: appDesc("reload_duration_seconds", "Time from a reload request to the switch of traffic, successful reloads."),
		figures:   map[string]*prometheus.Desc{},
	}
	for _, f := range figures {
		if c.figures[f.name] == nil {
			var labels []string
			if f.label != "" {
				labels = []string{f.label}
			}
			c.figures[f.name] = appDesc(f.name, f.help, labels...)
		}
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *appCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.instances, c.since, c.reloadDur} {
		ch <- d
	}
	for _, d := range c.figures {
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
	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, append([]string{app}, labels...)...)
	}
	for _, s := range appStates {
		send(c.state, prometheus.GaugeValue, float64(boolInt(m.Status.State == s)), string(s))
	}
	byState := instancesByState(m)
	for _, s := range instanceStates {
		send(c.instances, prometheus.GaugeValue, float64(byState[s]), string(s))
	}
	if !m.Status.Since.IsZero() {
		send(c.since, prometheus.GaugeValue, float64(m.Status.Since.UnixMilli())/1000)
	}
	for _, f := range figures {
		var labels []string
		if f.label != "" {
			labels = []string{f.labelValue}
		}
		if f.gauge != nil {
			send(c.figures[f.name], prometheus.GaugeValue, float64(f.gauge(m)), labels...)
		} else {
			send(c.figures[f.name], prometheus.CounterValue, float64(f.counter(m)), labels...)
		}
	}
	h := m.ReloadSeconds
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = h.Counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(c.reloadDur, h.Count, h.Sum, buckets, app)
}

// NewHandler serves GET /metrics: the apps' figures, the daemon's build
// info (version), Go runtime and process collectors, and extra collectors
// (the alert dispatcher's, the refused API requests).
func NewHandler(src Source, log *slog.Logger, version string, extra ...prometheus.Collector) http.Handler {
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
