// Package l4proxy is gracevisor's TCP (layer 4) proxy: one Proxy per app
// accepts client connections and splices each one, byte for byte, to the
// app's current Backend.
//
// # Model
//
// A Proxy holds one routing decision at a time: a set of Backends (one per
// instance of the app), "none yet" or "refuse". Switch, SwitchSet and
// Refuse replace it atomically and affect new connections only; open
// connections stay on the backend they were dialed to. Each new connection
// goes to the backend of the set with the fewest open connections (ties
// taken in turn); one whose dial fails is left out and the next is tried
// at once. A client that arrives while there is no backend, or while dials fail,
// waits up to ConnectTimeout and is woken by the next Switch (an event, not
// polling); dials are retried with a short backoff.
//
// Every Backend counts its open connections exactly. The count is taken
// before the dial and dropped when the proxied connection ends: deferred
// in proxyTo when the dial fails or the link runs in goroutines, by the
// event loop when the link ends there. Switch retires the previous backend: a retired
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
// # Data plane
//
// On Linux a listener from Listen (or one given to Adopt) is served by
// GOMAXPROCS−1 event loops (at least one; loop_linux.go, elink_linux.go,
// rawaccept_linux.go, dialfd_linux.go), shared by the process's proxies: a
// duplicate of the listening descriptor is in every loop's epoll set
// (EPOLLEXCLUSIVE, so a new client wakes one loop), and that loop accepts
// with accept4(2), opens the backend socket with a non-blocking connect and
// runs the link itself, edge-triggered; on loopback the handshake is
// usually done when connect returns and the link starts at once, else the
// loop finishes it on EPOLLOUT (SO_ERROR). No socket of such a connection
// enters Go's poller and no goroutine is woken for it: a short connection
// is about the system calls HAProxy makes (accept4, socket, setsockopt,
// connect, two epoll_ctl, the reads and writes, shutdown, two close). An
// idle connection costs two descriptors and a small struct. Accepting goes
// through the listener's own descriptor (RawConn.Control), which fails once
// it is closed, so nothing is accepted after Close; Close has every loop
// drop the duplicate and closes it before it returns.
//
// A client the loop cannot dial at once goes to a goroutine (serveFD: its
// socket becomes a net.Conn): no backend yet, refusing, every dial failing
// (it waits up to ConnectTimeout, retrying), a backend host name to
// resolve, a connect that fails or exceeds DialTimeout in the loop (the
// next backend is tried, as in a goroutine), or descriptors running out.
// While the PROXY protocol is on when Serve starts, and for other
// listeners, Serve accepts with ln.Accept and a goroutine per new
// connection reads the header, waits for a backend and dials; the dialed
// link is then handed to a loop (both descriptors duplicated, Go's closed).
// The loops are started by the first proxy that uses them and stopped when
// the last one has shut down.
//
// Each direction of a link moves a chunk at a time. Until one read fills
// the loop's 32 KiB scratch buffer, a direction reads into it and writes
// out at once (requests, responses, keep-alive traffic: a read and a write
// are cheaper than two splices); a chunk the destination cannot take yet
// moves to a buffer of the link's own. After that, when its source is
// readable it takes a pipe from a pool and splice(2)s into it and out to
// the destination, so bulk bytes never enter user space, and the pipe goes back
// to the pool once empty (a pooled pipe unused for half a second is
// closed). A direction whose destination is full keeps its one pipe until
// the destination's EPOLLOUT, and reads nothing meanwhile: a client that
// never reads costs at most one pipe (or buffer), and the backend is held back by TCP.
// A direction moves at most 1 MiB per turn, then waits until the loop's
// other ready links had theirs. When no pipe can be made (out of
// descriptors), a chunk is a user-space buffer instead. A clean EOF is
// forwarded as a half-close (shutdown SHUT_WR); the direction still running
// is then aborted if the kernel's TCP_INFO counters show no progress for
// FinTimeout. A reset or error on either side aborts both (resetting a side
// whose stream had not ended cleanly). The loop checks its links' clocks
// (FinTimeout, ClientWriteTimeout, a gone backend's grace) every 100 ms
// while any runs.
//
// Elsewhere (and with the l4proxy_portable build tag, or
// GRACEVISOR_DATAPLANE=goroutines in the environment) a link is two
// goroutines, one per direction (splice.go, copy.go): on Linux the same
// pipe-per-chunk splice through Go's poller (stream_linux.go), otherwise a
// user-space copy.
//
// # Stuck clients and gone backends
//
// A client that stops reading fills its window and would block the copy
// towards it forever. A write to the client that makes no progress for
// ClientWriteTimeout (the client acknowledged nothing) aborts the link; the
// clock runs only while such a write is blocked. And each Backend keeps
// the set of its open links: when the server behind it exits,
// Backend.Gone winds them down at once (the client's direction ends, the
// server's last bytes are still delivered, and a side that makes no
// progress for GoneGrace aborts the link), so a dead instance never holds
// connections or MaxConnections slots.
//
// Listeners from Proxy.Listen pass TCP keepalive to accepted sockets, and
// loopback backends get none, so no keepalive option is set per
// connection.
//
// # File descriptors
//
// An idle proxied connection holds two descriptors (its sockets); one
// moving bytes holds up to two pipes more (two descriptors each) while it
// does. Call RaiseFileLimit at start. When descriptors run out, accept backs
// off and retries (pending clients wait in the kernel backlog; a loop stops
// accepting from that listener for the backoff), dials fail
// and are retried within ConnectTimeout, and a chunk that cannot get a pipe
// is copied through a user-space buffer; a link whose descriptors cannot
// be duplicated for its loop stays in goroutines; service resumes as soon
// as connections close.
package l4proxy
