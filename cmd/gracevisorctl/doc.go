// Command gracevisorctl controls a running gracevisord through its HTTP+JSON
// control API.
//
// This package is the command line only: the cobra command tree and its
// flags (root.go, commands.go), and how the flags find the daemon
// (api.Resolve with --rpc, or the rpc section of --conf DIR/gracevisor.yaml).
// What each command does — the requests, the table, following logs, the
// per-app loop, step-by-step output and exit codes — is package
// cmd/internal/ctl; the wire types and the Client are cmd/internal/api.
// Neither links procs nor net/http.
//
// Exit codes: 0 ok, 1 operation failed, 2 usage error, 3 status found an app
// not RUNNING, 4 unknown app, 5 daemon unreachable.
package main
