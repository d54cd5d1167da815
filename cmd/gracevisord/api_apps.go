package main

import (
	"context"
	"net/http"
)

// appOp is one supervisor operation on a single app.
type appOp func(ctx context.Context, name string) error

// handleApp runs op on the app named in the path and answers with the app's
// status afterwards.
func (a *api) handleApp(w http.ResponseWriter, r *http.Request, op appOp) {
	name := r.PathValue("name")
	if err := a.base.Err(); err != nil {
		a.writeOpError(w, r, errShuttingDown)
		return
	}
	if err := op(a.base, name); err != nil {
		a.writeOpError(w, r, err)
		return
	}
	a.handleAppStatus(w, r)
}

// handleStart serves POST /api/v1/apps/{name}/start.
func (a *api) handleStart(w http.ResponseWriter, r *http.Request) {
	a.handleApp(w, r, a.d.sup.StartApp)
}

// handleStop serves POST /api/v1/apps/{name}/stop.
func (a *api) handleStop(w http.ResponseWriter, r *http.Request) {
	a.handleApp(w, r, a.d.sup.StopApp)
}

// handleRestart serves POST /api/v1/apps/{name}/restart.
func (a *api) handleRestart(w http.ResponseWriter, r *http.Request) {
	a.handleApp(w, r, a.d.sup.RestartApp)
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
