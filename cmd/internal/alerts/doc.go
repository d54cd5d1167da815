// Package alerts delivers app events (procs.Event: crash, restart,
// reload_ok, reload_failed, fatal, recovered, unhealthy, rolled_back, degraded) to the alert hooks
// of the app's config: a command (the event as JSON on stdin and in
// GRACEVISOR_* variables) and a webhook (the JSON POSTed, with retries).
//
// The model: the supervisor calls Notify on its app goroutines, and Notify
// never blocks — an event that finds the bounded queue full is dropped,
// logged and counted. One dispatcher goroutine starts each delivery, up to
// alertParallel at once. Stop lets queued events go out for a short grace
// period, then cancels what still runs (commands are killed with their
// process group).
package alerts
