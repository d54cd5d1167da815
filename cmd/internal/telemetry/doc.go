// Package telemetry reports the apps' figures to monitoring: GET /metrics
// (Prometheus, pulled) and statsd (pushed over UDP).
//
// The model: one list (figures.go) names every figure once — its
// Prometheus name and help, its statsd key, whether it is a gauge or a
// counter, and how to read it from a procs.AppMetrics snapshot. The
// Prometheus collector and the statsd pusher both walk that list, so a
// figure added there appears in both. Nothing is mirrored: every scrape
// and every push reads a fresh snapshot from the supervisor.
package telemetry
