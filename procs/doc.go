// Package procs is gracevisor's core: it runs every app's instances and
// fronts each app with an l4proxy listener. It knows nothing of the control
// API or the CLI; those call a Supervisor.
//
// # Model
//
// An app has one external listener (a front: listener + l4proxy.Proxy) and
// a serving set: at most one serving instance per slot, 0…instances-1
// (app.serving, by slot; set.go). The proxy routes new connections to the
// set's Backends (one SwitchSet), the least loaded first; each instance
// gets its own internal port, and its slot as {instance}. To reload, new
// instances start on free internal ports, and once ready they take their
// slots' places: all at once in one SwitchSet (reload_strategy
// all-at-once), or one slot at a time (rolling, at most N+1 instances
// serving or starting). A replaced instance drains (its connections finish,
// or drain_timeout passes) and is then stopped (stop_signal, stop_timeout,
// SIGKILL of its process group). So an app has up to N serving instances,
// one attempt bringing up instances in some slots, and any number of
// retiring ones.
//
// An attempt (attempt.go) fills slots: the first start and a scale-up
// adopt each slot as soon as its instance is ready; a crash or failed
// health check adds its slot to the attempt in flight, or begins one for
// that slot alone, while the other instances serve; a reload fills every
// slot. How it ends is finish.go: complete, given up (the old set serves
// on; a rolling reload first starts the slots it replaced again with their
// old config, rolling.go), or dismissed by a stop. Scale (scale.go) sheds
// the highest slots or begins an attempt for the new ones.
//
// With a rollback window (rollback_window, rollback.go) the instance a
// reload replaced stands by instead of retiring: it runs, takes no new
// connections, and is in retired without a drainAndStop. If the new
// instance exits or turns unhealthy before the window closes (or Rollback
// asks), the proxy switches back to it and the new one is stopped; when
// the window closes it drains and stops as usual. At most one instance
// stands by: the last one replaced. A window needs one instance (config
// refuses rollback_window with instances above 1; a scale-up ends it).
//
// Each ready instance has one current l4proxy.Backend. When an update changes the
// address, the app gets a new front (and the reload is all-at-once); the
// old one stops accepting, and the clients it accepted but has not routed
// yet go to the new set through the same Backends, so their later drain
// counts them too.
// A retired Backend is never dialed again, so a rollback gives the
// instance standing by a new one; its older Backends (instance.older)
// keep counting their connections, and its status, drain and exit count
// all of its Backends.
//
// # Ownership
//
// One owner per state. Each app's state — its instances, their states
// (STARTING, SERVING, DRAINING, STOPPING, EXITED), its attempt, counters,
// fronts and config — is owned by one goroutine, appLoop (tableflip's run
// loop). Nothing else writes it. Callers send it typed requests with a
// reply channel (startReq, reloadReq, updateReq, stopReq, terminateReq,
// rollbackReq, scaleReq);
// helper goroutines report facts as typed messages (exited, ready,
// probeFailed, stopping, frontClosed) and the loop records them (see
// messages.go). No function is ever sent to the loop. Helpers are named
// goroutines that each wait for one thing: watchReady, watchExit,
// watchHealth, drainAndStop, serveFront, retireFront; the
// loop tracks them in a WaitGroup and ends only after they have. An
// instance's process is reaped by waitInstance, which closes the
// instance's exited channel; that and exitErr are the only instance fields
// written outside the loop, once.
//
// After every step the loop stores a status snapshot (app.view) and only
// then sends the replies of that step, so Status and Metrics never wait
// for a busy loop and a caller that was answered sees the effect in Status.
//
// Config has one owner too. The daemon keeps its *config.Config; the
// Supervisor takes the apps and port_range from it at New and Update (it
// keeps the apps' configs, to start them and to compare the next Update
// with, never the daemon's Config), the port range goes to the
// ports.Allocator, and each app's loop receives its config.App when it is
// created or updated. An instance keeps the config it was started with.
//
// Stop drains the serving instances before their stop_signal; terminate
// (shutdown, or removal by an update) does not: nothing takes over its
// clients, so every instance gets stop_signal at once and the app closes
// its idle keep-alive connections itself.
//
// The Supervisor holds the apps by name under a mutex; Start, Update and
// Shutdown are serialized, everything else runs concurrently.
//
// # The OS seam
//
// Starting a process, signalling its group, waiting for its exit, and
// probing it for readiness and health go through a system and its
// processes (system.go), tableflip's env. realSystem is the default; the
// lifecycle tests script a fake one and run in milliseconds.
//
// # States
//
// An app's state follows from what it has: a serving instance and a
// reload in flight → RELOADING; a serving instance → RUNNING (also while
// another slot restarts or scales up); starting instances → STARTING;
// waiting to retry → BACKOFF; nothing but wanted → FATAL; nothing and not
// wanted → STOPPED.
//
// # Processes
//
// An instance is the command split into argv by shell rules (no shell runs),
// in its own process group, with Pdeathsig SIGKILL. Children are forked from
// one dedicated, locked OS thread (see spawner), because Pdeathsig fires
// when the forking thread exits. When an instance's main process exits, the
// rest of its process group is SIGKILLed before it is reaped (waitid with
// WNOWAIT), so nothing it spawned survives it. Pdeathsig, the spawner and
// WNOWAIT are Linux only (system_linux.go); elsewhere children are started
// from any thread, the group is killed just after the reap, and nothing
// kills children if the daemon dies: PlatformLimits says so, for the
// daemon to log at start.
//
// stdout and stderr go through per-stream line buffers into lumberjack
// files shared per path, so lines never interleave. Each
// file has a bounded queue written by its own goroutine, so a hung disk
// blocks neither the app nor its stop (see logFile).
//
// Internal ports come from a ports.Allocator, which keeps ports held by
// instances of an older port_range off-limits after the range changes.
//
// # Containment
//
// A Containment (contain.go) decides, once per daemon, how instances are
// held: in cgroups below the daemon's (cgroup_linux.go finds the
// hierarchies, cgroup_tree_linux.go makes the subtree, cgroup_cell_linux.go
// is one instance's cgroup), else in process groups plus the processes
// that carry the instance's GRACEVISOR_INSTANCE marker (pgroup_linux.go),
// recorded in a state file. Each instance's process has a cell: the
// process is cloned into it, its SIGKILL (stop_timeout, or the exit of the
// main process) kills the whole cell, and the cell is empty before the
// instance is reported gone. Sweep, before the daemon binds anything,
// kills what dead daemons' cells still hold; instance ids carry their
// daemon's pid and start time, so a live daemon's cells are never swept.
// The kernel's verdicts come back as facts for the loop (kernel.go): an
// exit wrapping errOOMKilled, and memoryHigh from watchMemory.
//
// # Taking over and handing over
//
// A daemon that replaces a running one (see cmd/internal/upgrade) calls
// TakeOver before Start: its external listeners come from a hook (inherited
// sockets), each app's listener accepts only once the app's first instance
// serves (until then the previous daemon takes every client), and Start
// fails if any app's first instance does. The daemon it replaced calls
// Handover: listeners close at once (the sockets live on in the successor),
// each proxy keeps serving the connections it has until they end or
// drain_timeout passes, then the instances are stopped.
package procs
