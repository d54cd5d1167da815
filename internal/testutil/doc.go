// Package testutil holds the helpers that the tests of several packages
// share: a buffer safe for concurrent writers, polling with a deadline,
// free loopback addresses and port windows, a dial that cleans up after
// itself, clients that never read, the re-exec protocol by which a test
// binary runs itself as a child process, a systemd notify socket, and
// whether a process is alive.
//
// The rule: tests import it; production code never does.
//
// Every helper that opens something (a listener, a connection, a
// goroutine) closes or ends it in t.Cleanup, so a package's goleak check
// holds with or without it. A helper that takes no testing.TB starts
// nothing that outlives its call.
package testutil
