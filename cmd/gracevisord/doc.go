// Command gracevisord is the gracevisor daemon: a process supervisor with an L4
// proxy in front of every app, controlled over an HTTP+JSON API.
//
// This package is flags, wiring and signals only: it parses the flags,
// loads the config (errors are printed, one per line, before anything
// starts), opens the daemon's log, decides the control API's access policy
// (apiserver.NewSecurity), subscribes to SIGTERM, SIGINT and SIGHUP, and
// hands everything to daemon.Run, which owns the start-up order and the
// running config. The parts live in cmd/internal: daemon (start-up order,
// config owner, updates), apiserver (routes, access control, limits),
// api (the wire types gracevisorctl shares), telemetry, alerts, logtail,
// sdnotify, web.
package main
