// Package l4proxy is gracevisor's TCP (layer 4) proxy: one Proxy per app
// accepts client connections and splices each one, byte for byte, to the
// app's current Backend.
//
// # Model
//
// A Proxy holds one routing decision at a time: a Backend, "none yet" or
// "refuse". Switch and Refuse replace it atomically and affect new
// connections only; open connections stay on the backend they were dialed
// to. A client that arrives while there is no backend, or while dials fail,
// waits up to ConnectTimeout and is woken by the next Switch (an event, not
// polling); dials are retried with a short backoff.
//
// Every Backend counts its open connections exactly. The count is taken
// before the dial and dropped, deferred, in the same function when the
// proxied connection ends. Switch retires the previous backend: a retired
// backend takes no new connections, and when its count reaches zero its
// Drained channel closes. Count and "retired" live in one atomic word, so
// "retired and zero" is a one-way gate: nothing is ever dialed to a backend
// after Drained closed. The supervisor waits on Drained before it stops the
// old instance.
//
// # Copy path
//
// Bytes are copied with io.Copy between the raw *net.TCPConn values, so on
// Linux the kernel moves them with splice(2) through a pipe and never into
// user space. Nothing wraps the connections and no deadline is set on them;
// byte counts come from io.Copy's totals. A clean EOF is forwarded as a
// half-close (CloseWrite); the direction still running is then closed if
// the kernel's TCP_INFO counters show no progress for FinTimeout. A reset
// or error on either side aborts both (resetting a side whose stream had
// not ended cleanly).
//
// Per connection the proxy spends two goroutines and about 27 system calls
// on Linux (accept, dial, four splice calls per direction, shutdown, close,
// poller registration). Listeners from Proxy.Listen pass TCP keepalive to
// accepted sockets, and loopback backends get none, so no keepalive option
// is set per connection.
//
// # File descriptors
//
// Each proxied connection holds six descriptors on Linux: two sockets and
// the two splice pipes Go keeps for the life of each io.Copy. Call
// RaiseFileLimit at start. When descriptors run out, accept backs off and
// retries (pending clients wait in the kernel backlog), dials fail and are
// retried within ConnectTimeout, and copies without a pipe fall back to a
// user-space buffer; service resumes as soon as connections close.
package l4proxy
