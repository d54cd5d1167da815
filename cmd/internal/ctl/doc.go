// Package ctl is what each gracevisorctl command does once cobra has parsed
// its command line: the requests it sends (through api.Client), what it
// prints, and the exit code it ends with.
//
// The model: a Session is one run of gracevisorctl — its output streams,
// --json, whether stdout is a terminal, and a way to reach the daemon.
// Every command is one Session method taking typed arguments (never cobra
// values) and returning an error that carries its exit code (api.WithCode);
// Report prints such an error as one "gracevisorctl: …" line per line and
// returns the code:
//
//	0 ok, 1 operation failed, 2 usage error, 3 status found an app not
//	RUNNING, 4 unknown app, 5 daemon unreachable.
//
// Output has three shapes. A human on a terminal sees blocking commands
// (reload, upgrade) step by step as they happen; otherwise each command
// prints its result once, as text; with --json it prints the reply as JSON
// instead (also after a partial failure, so scripts see what succeeded).
// Commands over several apps try every app, report each failure as it
// happens, and exit with the first failure's code.
//
// The command tree, flags and finding the daemon stay in package main
// (cmd/gracevisorctl); like it, this package links neither procs nor
// net/http.
package ctl
