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
// No lock is common to all connections. Per connection the proxy touches
// atomic words (the active count, the backend's state word, the stats) and
// two sharded sets (shardset.go): the proxy's open client connections, which
// Shutdown closes, and each backend's open links, which Backend.Gone winds
// down. A member goes to one of 32 shards picked at random, each with its
// own short lock, so connections on different cores almost never meet; the
// rare walks of a whole set lock one shard at a time, and a flag set before
// the walk and read after every add makes sure no member is missed.
//
// # Copy path
//
// Each direction of a link is a stream (stream_linux.go): it waits on the
// non-blocking socket through Go's poller (RawConn), and once bytes are
// there it takes a pipe from a pool and splice(2)s them from one socket into
// the pipe and out to the other, so they never enter user space. The pipe
// goes back to the pool as soon as it is empty: an idle connection holds no
// pipe, and a pooled pipe unused for half a second is closed. A clean EOF is
// forwarded as a half-close (CloseWrite); the direction still running is
// then closed if the kernel's TCP_INFO counters show no progress for
// FinTimeout. A reset or error on either side aborts both (resetting a side
// whose stream had not ended cleanly).
//
// # Stuck clients and gone backends
//
// A client that stops reading fills its window and would block the copy
// towards it forever. A write to the client that makes no progress for
// ClientWriteTimeout (the client acknowledged nothing) aborts the link; the
// deadline is set only while such a write is blocked. And each Backend keeps
// a list of its open links: when the server behind it exits, Backend.Gone
// winds them down at once (the client's direction ends, the server's last
// bytes are still delivered, and a side that makes no progress for
// GoneGrace aborts the link), so a dead instance never holds connections or
// MaxConnections slots.
//
// Per connection the proxy spends two goroutines and about 27 system calls
// on Linux (accept, dial, splice calls per direction, shutdown, close,
// poller registration). Listeners from Proxy.Listen pass TCP keepalive to
// accepted sockets, and loopback backends get none, so no keepalive option
// is set per connection.
//
// # File descriptors
//
// An idle proxied connection holds two descriptors (its sockets); one
// moving bytes holds up to two pipes more (two descriptors each) while it
// does. Call RaiseFileLimit at start. When descriptors run out, accept backs
// off and retries (pending clients wait in the kernel backlog), dials fail
// and are retried within ConnectTimeout, and a chunk that cannot get a pipe
// is copied through a user-space buffer; service resumes as soon as
// connections close.
package l4proxy
