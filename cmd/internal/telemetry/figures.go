package telemetry

import "github.com/gracevisor/gracevisor/procs"

// Source is what telemetry reads: a snapshot of every app's figures (the
// supervisor).
type Source interface {
	Metrics(names ...string) ([]procs.AppMetrics, error)
}

// appStates and instanceStates are every state, so that a state gauge
// reads 0 rather than vanishing when an app leaves it. Both reports send
// one gauge per state (Prometheus gracevisor_app_state{state} and
// gracevisor_app_instances{state}; statsd state.S and instances.S).
var (
	appStates      = []procs.AppState{procs.AppStopped, procs.AppStarting, procs.AppRunning, procs.AppReloading, procs.AppBackoff, procs.AppFatal}
	instanceStates = []procs.InstanceState{procs.InstStarting, procs.InstServing, procs.InstDraining, procs.InstStopping, procs.InstExited}
)

// figure is one number of an app. Exactly one of gauge and counter is set.
type figure struct {
	name       string // Prometheus: gracevisor_app_<name>, with the app label
	help       string // Prometheus help; figures sharing a name share the first one's
	label      string // an extra Prometheus label, with value labelValue; "" = none
	labelValue string
	statsd     string // statsd key after <prefix>.app.<app>.; "" = Prometheus only

	gauge   func(m *procs.AppMetrics) int64  // sent as it is
	counter func(m *procs.AppMetrics) uint64 // statsd sends the increase since the last push
}

// figures are every plain figure, in the order statsd sends them. The
// states, the time of the last state change and the reload duration
// histogram have shapes of their own (prometheus.go, statsd.go).
var figures = []figure{
	{name: "connections_open", help: "Client connections open now.", statsd: "connections.open",
		gauge: func(m *procs.AppMetrics) int64 { return m.Traffic.Active }},
	{name: "connections_accepted_total", help: "Client connections accepted.", statsd: "connections.accepted",
		counter: func(m *procs.AppMetrics) uint64 { return m.Traffic.Accepted }},
	{name: "connections_failed_total", help: "Client connections closed without reaching an instance.", statsd: "connections.failed",
		counter: func(m *procs.AppMetrics) uint64 { return m.Traffic.Failed }},
	{name: "connections_waited_total", help: "Client connections that had to wait for a ready instance (start, crash restart).", statsd: "connections.waited",
		counter: func(m *procs.AppMetrics) uint64 { return m.Traffic.Waited }},
	{name: "accept_errors_total", help: "Failed accepts on the app's listener (e.g. out of file descriptors).", statsd: "accept_errors",
		counter: func(m *procs.AppMetrics) uint64 { return m.Traffic.AcceptErrors }},
	{name: "proxy_header_rejected_total", help: "Client connections closed because of accept_proxy_protocol: from an address not in trusted_proxies, or without a valid PROXY header in time.", statsd: "connections.proxy_header_rejected",
		counter: func(m *procs.AppMetrics) uint64 { return m.Traffic.ProxyHeaderRejected }},
	{name: "bytes_total", help: "Bytes proxied: in = client to app, out = app to client; counted when a direction of a connection ends.",
		label: "direction", labelValue: "in", statsd: "bytes.in",
		counter: func(m *procs.AppMetrics) uint64 { return m.Traffic.BytesIn }},
	{name: "bytes_total", label: "direction", labelValue: "out", statsd: "bytes.out",
		counter: func(m *procs.AppMetrics) uint64 { return m.Traffic.BytesOut }},
	{name: "crashes_total", help: "Exits of a serving instance.", statsd: "crashes",
		counter: func(m *procs.AppMetrics) uint64 { return m.Crashes }},
	{name: "restarts_total", help: "Instances started to replace a crashed one or to retry a failed start.", statsd: "restarts",
		counter: func(m *procs.AppMetrics) uint64 { return m.Restarts }},
	{name: "reloads_total", help: "Reloads (reload, update, replacement of an unhealthy instance) by outcome.",
		label: "outcome", labelValue: "ok", statsd: "reloads.ok",
		counter: func(m *procs.AppMetrics) uint64 { return m.ReloadsOK }},
	{name: "reloads_total", label: "outcome", labelValue: "failed", statsd: "reloads.failed",
		counter: func(m *procs.AppMetrics) uint64 { return m.ReloadsFailed }},
	{name: "healthcheck_failures_total", help: "Failed health checks of serving instances.", statsd: "healthcheck_failures",
		counter: func(m *procs.AppMetrics) uint64 { return m.HealthcheckFailures }},
	{name: "unhealthy_total", help: "Instances replaced because they failed healthcheck_failures checks in a row.", statsd: "unhealthy",
		counter: func(m *procs.AppMetrics) uint64 { return m.Unhealthy }},
	{name: "oom_kills_total", help: "Instances the kernel's OOM killer ended (memory_max).", statsd: "oom_kills",
		counter: func(m *procs.AppMetrics) uint64 { return m.OOMKills }},
	{name: "memory_reloads_total", help: "Reloads begun because an instance stayed above memory_reload.", statsd: "memory_reloads",
		counter: func(m *procs.AppMetrics) uint64 { return m.MemoryReloads }},
	{name: "rollbacks_total", help: "Reloads rolled back within rollback_window (the new instance exited or turned unhealthy, or by hand).", statsd: "rollbacks",
		counter: func(m *procs.AppMetrics) uint64 { return m.RolledBack }},
	{name: "instances_adopted_total", help: "Instances that took over serving after the first one (status's restarts).",
		counter: func(m *procs.AppMetrics) uint64 { return uint64(m.Status.Restarts) }},
}

// instancesByState counts an app's instances per state.
func instancesByState(m *procs.AppMetrics) map[procs.InstanceState]int64 {
	n := map[procs.InstanceState]int64{}
	for _, in := range m.Status.Instances {
		n[in.State]++
	}
	return n
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
