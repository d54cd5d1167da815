package main

import (
	"net/http"

	"github.com/gracevisor/gracevisor/procs"
)

// handleApp runs op on the app named in the path and answers with a
// procs.OpReport: the app's status afterwards, and in result what this
// operation produced. The status is read after the operation, so a
// concurrent one may have changed it already (a stop right after this
// start); the result is this request's own outcome.
func (a *api) handleApp(w http.ResponseWriter, r *http.Request, op procs.Op) {
	name := r.PathValue("name")
	if err := a.base.Err(); err != nil {
		a.writeOpError(w, r, errShuttingDown)
		return
	}
	res, err := a.d.sup.Do(a.base, op, name)
	if err != nil {
		a.writeOpError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, procs.OpReport{AppStatus: a.statusAfter(res), Result: res})
}

// statusAfter is the app's status after an operation that produced res.
// An app removed meanwhile (an update) has none; res stands in for it.
func (a *api) statusAfter(res procs.OpResult) procs.AppStatus {
	st, err := a.d.sup.Status(res.App)
	if err != nil || len(st) != 1 {
		return procs.AppStatus{Name: res.App, State: res.State, Instances: []procs.InstanceStatus{}}
	}
	return st[0]
}

// handleStart serves POST /api/v1/apps/{name}/start.
func (a *api) handleStart(w http.ResponseWriter, r *http.Request) {
	a.handleApp(w, r, procs.OpStart)
}

// handleStop serves POST /api/v1/apps/{name}/stop.
func (a *api) handleStop(w http.ResponseWriter, r *http.Request) {
	a.handleApp(w, r, procs.OpStop)
}

// handleRestart serves POST /api/v1/apps/{name}/restart.
func (a *api) handleRestart(w http.ResponseWriter, r *http.Request) {
	a.handleApp(w, r, procs.OpRestart)
}

// handleReload serves POST /api/v1/apps/{name}/reload. It blocks until the
// new instance serves (200, procs.ReloadResult) or the reload failed and the
// old instance still serves (409 with the reason).
func (a *api) handleReload(w http.ResponseWriter, r *http.Request) {
	if a.base.Err() != nil {
		a.writeOpError(w, r, errShuttingDown)
		return
	}
	res, err := a.d.sup.Reload(a.base, r.PathValue("name"))
	if err != nil {
		a.writeOpError(w, r, err)
		return
	}
	a.log.Info("reloaded", "app", res.App, "pid", res.PID, "port", res.Port, "switch_ms", res.DurationMS)
	writeJSON(w, http.StatusOK, res)
}
