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
	PID         int           `json:"pid"`
	Port        int           `json:"port"`
	State       InstanceState `json:"state"`
	Connections int64         `json:"connections"`
	StartedAt   time.Time     `json:"started_at"`
}

// AppStatus is one app: GET /api/v1/status answers a list of them, GET
// /api/v1/apps/{name} one. Instances lists the serving instance first,
// then starting and draining ones; it is [] rather than null.
type AppStatus struct {
	Name      string           `json:"name"`
	State     AppState         `json:"state"`
	External  string           `json:"external"`
	Restarts  int              `json:"restarts"`
	Since     time.Time        `json:"since"`           // when State was entered
	LastError string           `json:"error,omitempty"` // why the last start/reload failed
	Instances []InstanceStatus `json:"instances"`
}

// ReloadResult answers a successful POST /api/v1/apps/{name}/reload.
type ReloadResult struct {
	App        string  `json:"app"`
	PID        int     `json:"pid"`
	Port       int     `json:"port"`
	DurationMS float64 `json:"duration_ms"` // from request to the switch of traffic
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
// [] rather than null.
type Changes struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
}

// ShutdownReply answers POST /api/v1/shutdown once every app has stopped.
type ShutdownReply struct {
	Status string `json:"status"`
}

// Version answers GET /api/v1/version.
type Version struct {
	Version string `json:"version"`
	Go      string `json:"go"`
}

// ErrorReply is the body of every error answer.
type ErrorReply struct {
	Error    string   `json:"error"`
	Problems []string `json:"problems,omitempty"` // one per config problem, for 422
}
