// Package upgrade replaces a running gracevisord with a new one without
// closing a listener, on top of github.com/cloudflare/tableflip.
//
// # Model
//
// At most two daemons run: the serving one and, during an upgrade, its
// successor, which is not serving yet. The serving daemon (the parent)
// starts the gracevisord binary found at its own path now, with the same
// arguments, and hands it every listener it made through Listen as an
// inherited file descriptor. Listeners are never closed: while both
// daemons hold them the kernel queues new connections, and whichever daemon
// accepts one serves it, so no client is refused.
//
// The successor (the child) reads its config afresh and takes the inherited
// listeners whose address it still uses (Listen returns them instead of
// binding). It reports each step to its parent over a pipe (Progress), and
// calls Ready once it serves; only then does the parent's Upgrade return
// nil, and the parent stops accepting, drains and exits. If the child
// reports a failure (Failed), exits, or is not ready within the upgrade
// timeout (it is killed then), Upgrade returns the child's own error and
// the parent goes on serving as if nothing happened.
//
// One upgrade runs at a time (ErrInProgress), and tableflip allows only one
// generation to drain at a time: a daemon whose own parent is still
// draining waits for it (WaitForParent) before it can start a successor.
package upgrade
