// Command gracevisord is the gracevisor daemon: a process supervisor with an L4
// proxy in front of every app, controlled over an HTTP+JSON API.
//
// The model: main.go only wires things together. A daemon (daemon.go) owns the
// running configuration and the procs.Supervisor; everything that changes the
// configuration (SIGHUP, POST /api/v1/update) goes through daemon.update, which
// serializes updates so that the stored config always matches what the
// supervisor runs. The control API (api*.go) translates HTTP requests into
// supervisor calls and supervisor errors into status codes; it knows nothing
// about processes or sockets.
//
// Start-up order: config is loaded and validated (errors are printed, one per
// line, before anything starts), the control API is bound (so that a bind
// failure changes nothing), the supervisor binds every external listener and
// starts every app, and only then is the control API served. On
// SIGTERM/SIGINT or POST /api/v1/shutdown every app is stopped gracefully and
// the daemon exits 0.
package main
