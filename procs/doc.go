// Package procs is gracevisor's core: it runs every app's instances and
// fronts each app with an l4proxy listener. It knows nothing of the control
// API or the CLI; those call a Supervisor.
//
// # Model
//
// An app has one external listener (a front: listener + l4proxy.Proxy) and
// at most one serving instance. To reload, a new instance starts on a free
// internal port, and once it is ready the proxy switches new connections to
// it; the old instance drains (its connections finish, or drain_timeout
// passes) and is then stopped (stop_signal, stop_timeout, SIGKILL of its
// process group). So an app has at most one serving instance, at most one
// starting instance, and any number of retiring ones.
//
// # Ownership
//
// Each app's state is owned by one goroutine, appLoop (tableflip style).
// Callers and helper goroutines never touch it: they send it functions to
// run (requests carry a reply channel). Helpers are named goroutines that
// each wait for one thing and post the result back: watchReady (readiness
// of a starting instance), watchExit (an instance's exit), watchHealth
// (health checks of the serving instance), drainAndStop (retiring an
// instance), serveFront and closeFront (a listener). The loop tracks them in
// a WaitGroup and ends only after they have.
//
// After every step the loop stores a status snapshot (app.view) and only
// then sends the replies of that step, so Status never waits for a busy
// loop and a caller that was answered sees the effect in Status.
//
// Stop drains the serving instance before its stop_signal; terminate
// (shutdown, or removal by an update) does not: nothing takes over its
// clients, so every instance gets stop_signal at once and the app closes
// its idle keep-alive connections itself.
//
// The Supervisor holds the apps by name under a mutex; Start, Update and
// Shutdown are serialized, everything else runs concurrently.
//
// # States
//
// An app's state follows from what it has: serving and starting instance →
// RELOADING; serving → RUNNING; starting → STARTING; waiting to retry →
// BACKOFF; nothing but wanted → FATAL; nothing and not wanted → STOPPED.
//
// # Processes
//
// An instance is the command split into argv by shell rules (no shell runs),
// in its own process group, with Pdeathsig SIGKILL. Children are forked from
// one dedicated, locked OS thread (see spawner), because Pdeathsig fires
// when the forking thread exits. When an instance's main process exits, the
// rest of its process group is SIGKILLed before it is reaped, so nothing it
// spawned survives it. stdout and stderr go through per-stream line buffers
// into lumberjack files shared per path, so lines never interleave. Each
// file has a bounded queue written by its own goroutine, so a hung disk
// blocks neither the app nor its stop (see logFile).
//
// Internal ports come from a ports.Allocator, which keeps ports held by
// instances of an older port_range off-limits after the range changes.
package procs
