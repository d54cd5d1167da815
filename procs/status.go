package procs

import (
	"errors"
	"time"
)

// ErrUnknownApp is wrapped by every operation given a name that is not configured.
var ErrUnknownApp = errors.New("unknown app")

// ErrBeingAdded is wrapped by an operation on an app that an update is
// still adding, when the caller's context ended before the app was bound.
var ErrBeingAdded = errors.New("app is being added by an update; retry")

// AppState is an app's state as status reports it.
type AppState string

// App states, as the spec names them.
const (
	AppStopped   AppState = "STOPPED"   // no instance; the listener refuses new connections
	AppStarting  AppState = "STARTING"  // first instance starting; clients wait (connect_timeout)
	AppRunning   AppState = "RUNNING"   // an instance serves
	AppReloading AppState = "RELOADING" // an instance serves while a new one starts
	AppBackoff   AppState = "BACKOFF"   // the instance died; waiting before the next start
	AppFatal     AppState = "FATAL"     // max_retries consecutive failed starts; listener refuses
)

// InstanceState is one instance's state.
type InstanceState string

// Instance states, as the spec names them.
const (
	InstStarting InstanceState = "STARTING" // started, not yet ready
	InstServing  InstanceState = "SERVING"  // new connections go here
	InstDraining InstanceState = "DRAINING" // retired; waiting for its connections to close
	InstStopping InstanceState = "STOPPING" // stop_signal sent
	InstExited   InstanceState = "EXITED"   // process gone
)

// InstanceStatus is a snapshot of one instance.
type InstanceStatus struct {
	// Slot is its place among the app's instances, 0…instances-1 (its
	// {instance}); a replacement takes the slot of the one it replaces.
	Slot        int           `json:"slot"`
	PID         int           `json:"pid"`
	Port        int           `json:"port"`
	State       InstanceState `json:"state"`
	Connections int64         `json:"connections"`
	StartedAt   time.Time     `json:"started_at"`
}

// AppStatus is a snapshot of one app. Instances lists the serving
// instances first (by slot), then starting and draining ones.
type AppStatus struct {
	Name      string    `json:"name"`
	State     AppState  `json:"state"`
	External  string    `json:"external"`
	Restarts  int       `json:"restarts"`
	Since     time.Time `json:"since"`           // when State was entered
	LastError string    `json:"error,omitempty"` // why the last start/reload failed
	// LastReload is the outcome of the app's last reload: ok, failed or
	// rolled_back (see ReloadOutcome); "" before the first one.
	LastReload ReloadOutcome `json:"last_reload,omitempty"`
	// Reason says why the last instance that ended on its own ended, when
	// the kernel ended it: ReasonOOMKilled ("oom-killed"); "" otherwise.
	Reason string `json:"reason,omitempty"`
	// Containment is how the daemon holds instances: "cgroup" or
	// "process-group" (see Containment).
	Containment string           `json:"containment"`
	Instances   []InstanceStatus `json:"instances"`
}

// ReloadOutcome is how an app's last reload ended.
type ReloadOutcome string

// Reload outcomes.
const (
	ReloadOK         ReloadOutcome = "ok"          // the new instance serves
	ReloadFailed     ReloadOutcome = "failed"      // it never got ready; the old one serves on
	ReloadRolledBack ReloadOutcome = "rolled_back" // the old one serves again (rollback window)
)

// ReloadResult is what a successful reload reports.
type ReloadResult struct {
	App        string  `json:"app"`
	PID        int     `json:"pid"`
	Port       int     `json:"port"`
	DurationMS float64 `json:"duration_ms"` // from request to the switch of traffic
	// Instances are the app's serving instances afterwards, by slot (PID
	// and Port above are the first one's).
	Instances []InstanceRef `json:"instances,omitempty"`
}

// InstanceRef names one serving instance.
type InstanceRef struct {
	Slot int `json:"slot"`
	PID  int `json:"pid"`
	Port int `json:"port"`
}

// OpResult is what one start, stop or restart produced (see Supervisor.Do).
type OpResult struct {
	App   string   `json:"app"`
	State AppState `json:"state"`          // RUNNING after a start or restart, STOPPED after a stop
	PID   int      `json:"pid,omitempty"`  // the serving instance, after a start or restart
	Port  int      `json:"port,omitempty"` // its internal port
}

// OpReport is an app's status read after an operation, with the
// operation's own result: a concurrent operation may have changed the
// status already, never the result.
type OpReport struct {
	AppStatus
	Result OpResult `json:"result"`
}

// Changes is what Update did, by app name, each list sorted. Failed lists
// the added and changed apps that did not get ready (see Update); the
// other changes are done.
type Changes struct {
	Added   []string     `json:"added"`
	Removed []string     `json:"removed"`
	Changed []string     `json:"changed"`
	Failed  []AppFailure `json:"failed"`
}

// AppFailure is an app an Update did not get ready, and why.
type AppFailure struct {
	App   string `json:"app"`
	Error string `json:"error"`
}
