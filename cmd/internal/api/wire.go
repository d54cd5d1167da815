package api

import "time"

// AppState is an app's state as status reports it.
type AppState string

// App states, as the spec names them.
const (
	AppStopped   AppState = "STOPPED"
	AppStarting  AppState = "STARTING"
	AppRunning   AppState = "RUNNING"
	AppReloading AppState = "RELOADING"
	AppBackoff   AppState = "BACKOFF"
	AppFatal     AppState = "FATAL"
)

// InstanceState is one instance's state.
type InstanceState string

// Instance states, as the spec names them.
const (
	InstStarting InstanceState = "STARTING"
	InstServing  InstanceState = "SERVING"
	InstDraining InstanceState = "DRAINING"
	InstStopping InstanceState = "STOPPING"
	InstExited   InstanceState = "EXITED"
)

// InstanceStatus is one instance in an AppStatus.
type InstanceStatus struct {
	// Slot is the instance's place among the app's instances,
	// 0…instances-1 (its {instance}); a replacement takes the slot of the
	// one it replaces.
	Slot        int           `json:"slot"`
	PID         int           `json:"pid"`
	Port        int           `json:"port"`
	State       InstanceState `json:"state"`
	Connections int64         `json:"connections"`
	StartedAt   time.Time     `json:"started_at"`
}

// AppStatus is one app: GET /api/v1/status answers a list of them, GET
// /api/v1/apps/{name} one. Instances lists the serving instances first
// (by slot), then starting and draining ones; it is [] rather than null.
type AppStatus struct {
	Name      string    `json:"name"`
	State     AppState  `json:"state"`
	External  string    `json:"external"`
	Restarts  int       `json:"restarts"`
	Since     time.Time `json:"since"`           // when State was entered
	LastError string    `json:"error,omitempty"` // why the last start/reload failed
	// LastReload is how the app's last reload ended: "ok", "failed" or
	// "rolled_back" (rollback_window); absent before the first one.
	LastReload string `json:"last_reload,omitempty"`
	// Reason is why the last instance that ended on its own ended, when the
	// kernel ended it: "oom-killed" (memory_max).
	Reason string `json:"reason,omitempty"`
	// Containment is how the daemon holds instances: "cgroup" or "process-group".
	Containment string           `json:"containment,omitempty"`
	Instances   []InstanceStatus `json:"instances"`
}

// ReloadResult answers a successful POST /api/v1/apps/{name}/reload.
type ReloadResult struct {
	App        string  `json:"app"`
	PID        int     `json:"pid"`
	Port       int     `json:"port"`
	DurationMS float64 `json:"duration_ms"` // from request to the switch of traffic
	// Instances are the app's serving instances afterwards, by slot; PID
	// and Port above are the first one's.
	Instances []InstanceRef `json:"instances,omitempty"`
}

// InstanceRef names one serving instance.
type InstanceRef struct {
	Slot int `json:"slot"`
	PID  int `json:"pid"`
	Port int `json:"port"`
}

// ScaleRequest is the body of POST /api/v1/apps/{name}/scale.
type ScaleRequest struct {
	Instances int `json:"instances"`
}

// ScaleResult answers a successful POST /api/v1/apps/{name}/scale: the
// count asked for and the instances serving afterwards (scaled-down ones
// drain on and are not listed). It lasts until the next update or upgrade.
type ScaleResult struct {
	App        string        `json:"app"`
	Instances  int           `json:"instances"`
	Serving    []InstanceRef `json:"serving"`
	DurationMS float64       `json:"duration_ms"`
}

// RollbackResult answers a successful POST /api/v1/apps/{name}/rollback:
// the instance that serves again.
type RollbackResult struct {
	App  string `json:"app"`
	PID  int    `json:"pid"`
	Port int    `json:"port"`
}

// OpResult is what one start, stop or restart produced.
type OpResult struct {
	App   string   `json:"app"`
	State AppState `json:"state"`          // RUNNING after a start or restart, STOPPED after a stop
	PID   int      `json:"pid,omitempty"`  // the serving instance, after a start or restart
	Port  int      `json:"port,omitempty"` // its internal port
}

// OpReport answers POST /api/v1/apps/{name}/{start,stop,restart}: the
// app's status read after the operation, with the operation's own result
// (a concurrent operation may have changed the status already, never the
// result).
type OpReport struct {
	AppStatus
	Result OpResult `json:"result"`
}

// Changes answers POST /api/v1/update: apps by name, each list sorted and
// [] rather than null. The answer is 200 whenever the config was valid and
// applied; Failed lists the added and changed apps that did not get ready
// (the rest of the update stays done), and gracevisorctl exits 1 when it
// is not empty.
type Changes struct {
	Added   []string     `json:"added"`
	Removed []string     `json:"removed"`
	Changed []string     `json:"changed"`
	Failed  []AppFailure `json:"failed"`
}

// AppFailure is an app an update did not get ready, and why: an added app
// whose address could not be bound (dropped) or whose first try failed (it
// retries: BACKOFF, then RUNNING or FATAL), or a changed app whose reload
// failed (its old instance still serves).
type AppFailure struct {
	App   string `json:"app"`
	Error string `json:"error"`
}

// ShutdownReply answers POST /api/v1/shutdown once every app has stopped.
type ShutdownReply struct {
	Status string `json:"status"`
}

// Version answers GET /api/v1/version: who the daemon is and what it is
// doing (gracevisorctl version prints it beside its own).
type Version struct {
	Version   string      `json:"version"`
	Go        string      `json:"go"`
	BuildID   string      `json:"build_id"`   // -ldflags main.buildID, else the VCS revision
	PID       int         `json:"pid"`        // of the daemon answering
	StartedAt time.Time   `json:"started_at"` // when that daemon started
	State     DaemonState `json:"state"`
	// Containment is how instances are held: "cgroup", or "process-group"
	// where no cgroup is writable (see docs/supervision.md).
	Containment string `json:"containment,omitempty"`
}

// DaemonState is what the daemon is doing, as GET /healthz and
// GET /api/v1/version report it.
type DaemonState string

// Daemon states.
const (
	DaemonServing   DaemonState = "serving"   // accepts clients, answers operations
	DaemonUpgrading DaemonState = "upgrading" // serving, and starting its successor
	DaemonDraining  DaemonState = "draining"  // a successor took over; its open connections finish
	DaemonStopping  DaemonState = "stopping"  // shutting down
)

// UpgradeEvent is one line of the POST /api/v1/upgrade answer, a stream of
// JSON lines (Content-Type application/x-ndjson), one per step as it
// happens. The last line is StepDone (with Result) or StepFailed (with
// Detail, the new daemon's own error): gracevisorctl exits 0 or 1.
type UpgradeEvent struct {
	Step        string         `json:"step"`
	PID         int            `json:"pid,omitempty"`         // the process the step is about
	App         string         `json:"app,omitempty"`         // StepAppReady
	Version     string         `json:"version,omitempty"`     // StepStarted: the new daemon's
	Connections int64          `json:"connections,omitempty"` // StepDraining: the old side's open connections
	Detail      string         `json:"detail,omitempty"`      // StepWaiting, StepFailed
	Result      *UpgradeResult `json:"result,omitempty"`      // StepDone
}

// Upgrade steps, in the order they happen.
const (
	StepWaiting  = "waiting"   // the previous daemon is still draining; Detail says what is waited for
	StepStarted  = "started"   // the new process runs (PID, Version)
	StepAppReady = "app_ready" // one app serves in the new daemon (App)
	StepReady    = "ready"     // the new daemon serves every app
	StepHandover = "handover"  // the old daemon stopped accepting; listeners are the new one's
	StepDraining = "draining"  // the old daemon's connections finish (Connections)
	StepDone     = "done"      // Result
	StepFailed   = "failed"    // nothing changed; Detail
)

// UpgradeResult ends a successful upgrade.
type UpgradeResult struct {
	OldPID     int     `json:"old_pid"`
	NewPID     int     `json:"new_pid"`
	OldVersion string  `json:"old_version"`
	NewVersion string  `json:"new_version"`
	DurationMS float64 `json:"duration_ms"` // from the request to the new daemon serving
}

// ErrorReply is the body of every error answer.
type ErrorReply struct {
	Error    string   `json:"error"`
	Problems []string `json:"problems,omitempty"` // one per config problem, for 422
}
