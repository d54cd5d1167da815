// Package e2e holds gracevisor's end-to-end tests; it has no code of its own.
//
// The tests build the real gracevisord, gracevisorctl and demoapp binaries
// (without -race, so the timing is that of a real deployment; the tests
// themselves run under -race) and drive them exactly as a user would: config
// files written to a temp dir, gracevisord started as a process, gracevisorctl
// for every command and its exit code, and plain net/http clients for the
// apps and the control API. Everything listens on 127.0.0.1: external and
// rpc ports are picked by binding :0 and closing, port_range is a random
// slice of a high region. Every process started is stopped in t.Cleanup,
// and the tests check that no app process outlives its daemon.
package e2e
