// Command gracevisorctl controls a running gracevisord through its HTTP+JSON
// control API.
//
// The model: every command is a thin cobra command that sends one or more
// requests (client.go) and prints the reply, as an aligned table or, with
// --json, as JSON. Every error carries its exit code (exit.go), and one
// function maps errors to codes and prints them, one line each, on stderr:
//
//	0 ok, 1 operation failed, 2 usage error, 3 status found an app not
//	RUNNING, 4 unknown app, 5 daemon unreachable.
//
// The daemon's address comes from --rpc, or from the rpc section of
// --conf DIR/gracevisor.yaml (addr.go).
package main
