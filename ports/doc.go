// Package ports hands out internal ports for app instances.
//
// The model: an Allocator owns a half-open range [from, to) of port numbers
// and remembers which of them it has handed out ("held"). Acquire walks the
// range round-robin, starting just after the last port it handed out, and
// returns the first port that is neither held nor busy on the host. "Busy"
// is decided by actually binding host:port and closing the listener again
// (a probe), on every address host resolves to, so a port some other program
// listens on is skipped rather than handed to an app that would then fail to
// bind it.
//
// Round-robin instead of lowest-free is deliberate: a port that was just
// released may still be held by its old process, which is shutting down, or
// sit in TIME_WAIT; moving on lets it cool down before it is used again.
//
// SetRange changes the range of later Acquires (a new port_range). Ports
// held under the old range stay held, and off-limits where the ranges
// overlap, until they are released: an instance that has not bound its port
// yet would pass the bind probe.
//
// A probe cannot reserve the port for the app: between the probe and the
// app's own bind, another program may take it. The supervisor treats that as
// an ordinary failed start (the app exits or never becomes ready) and retries
// with a fresh port.
package ports
