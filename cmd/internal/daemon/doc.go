// Package daemon is one run of gracevisord, from start-up to exit.
//
// The model: a daemon (daemon.go) owns the running configuration and the
// procs.Supervisor that runs it; everything that changes the configuration
// (SIGHUP, POST /api/v1/update) goes through daemon.update, which
// serializes updates so that the stored config always matches what the
// supervisor runs. The control API (cmd/internal/apiserver) reads it
// through the functions Run hands it.
//
// Start-up order (Run): the control API is bound (so that a bind failure
// changes nothing), the alert, statsd and metrics side (ops.go) starts, the
// supervisor binds every external listener and starts every app, and only
// then is the control API served, so its first answers never show apps
// that were not started yet. On SIGTERM/SIGINT or POST /api/v1/shutdown
// every app is stopped gracefully (a second signal kills what is left),
// the API drains, and Run returns nil.
package daemon
