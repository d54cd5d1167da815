package apiserver

import (
	"encoding/json"
	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/cmd/internal/reply"
	"net/http"

	"github.com/gracevisor/gracevisor/procs"
)

// handleApp runs op on the app named in the path and answers with a
// procs.OpReport: the app's status afterwards, and in result what this
// operation produced. The status is read after the operation, so a
// concurrent one may have changed it already (a stop right after this
// start); the result is this request's own outcome.
func (a *API) handleApp(w http.ResponseWriter, r *http.Request, op procs.Op) {
	name := r.PathValue("name")
	if err := a.Base.Err(); err != nil {
		a.writeOpError(w, r, errShuttingDown)
		return
	}
	res, err := a.Sup.Do(a.Base, op, name)
	if err != nil {
		a.writeOpError(w, r, err)
		return
	}
	reply.JSON(w, http.StatusOK, api.OpReport{AppStatus: a.statusAfter(res), Result: opResult(res)})
}

// statusAfter is the app's status after an operation that produced res.
// An app removed meanwhile (an update) has none; res stands in for it.
func (a *API) statusAfter(res procs.OpResult) api.AppStatus {
	st, err := a.Sup.Status(res.App)
	if err != nil || len(st) != 1 {
		return api.AppStatus{Name: res.App, State: api.AppState(res.State), Instances: []api.InstanceStatus{}}
	}
	return appStatus(st[0])
}

// handleStart serves POST /api/v1/apps/{name}/start.
func (a *API) handleStart(w http.ResponseWriter, r *http.Request) {
	a.handleApp(w, r, procs.OpStart)
}

// handleStop serves POST /api/v1/apps/{name}/stop.
func (a *API) handleStop(w http.ResponseWriter, r *http.Request) {
	a.handleApp(w, r, procs.OpStop)
}

// handleRestart serves POST /api/v1/apps/{name}/restart.
func (a *API) handleRestart(w http.ResponseWriter, r *http.Request) {
	a.handleApp(w, r, procs.OpRestart)
}

// handleReload serves POST /api/v1/apps/{name}/reload. It blocks until the
// new instance serves (200, procs.ReloadResult) or the reload failed and the
// old instance still serves (409 with the reason).
func (a *API) handleReload(w http.ResponseWriter, r *http.Request) {
	if a.Base.Err() != nil {
		a.writeOpError(w, r, errShuttingDown)
		return
	}
	res, err := a.Sup.Reload(a.Base, r.PathValue("name"))
	if err != nil {
		a.writeOpError(w, r, err)
		return
	}
	a.Log.Info("reloaded", "app", res.App, "pid", res.PID, "port", res.Port, "switch_ms", res.DurationMS)
	reply.JSON(w, http.StatusOK, reloadResult(res))
}

// handleRollback serves POST /api/v1/apps/{name}/rollback: while the last
// reload's rollback window is open, new connections go back to the
// instance before it (200, api.RollbackResult); otherwise 409 "nothing to
// roll back to".
func (a *API) handleRollback(w http.ResponseWriter, r *http.Request) {
	if a.Base.Err() != nil {
		a.writeOpError(w, r, errShuttingDown)
		return
	}
	res, err := a.Sup.Rollback(a.Base, r.PathValue("name"))
	if err != nil {
		a.writeOpError(w, r, err)
		return
	}
	a.Log.Info("rolled back by hand", "app", res.App, "pid", res.PID, "port", res.Port)
	reply.JSON(w, http.StatusOK, api.RollbackResult{App: res.App, PID: res.PID, Port: res.Port})
}

// handleScale serves POST /api/v1/apps/{name}/scale with {"instances": N}:
// it blocks until the added instances serve (200, api.ScaleResult); a
// count out of range is 400, an app starting, reloading or restarting an
// instance 409.
func (a *API) handleScale(w http.ResponseWriter, r *http.Request) {
	if a.Base.Err() != nil {
		a.writeOpError(w, r, errShuttingDown)
		return
	}
	var req api.ScaleRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil { // checked by mutatingWith already
		reply.Error(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return
	}
	res, err := a.Sup.Scale(a.Base, r.PathValue("name"), req.Instances)
	if err != nil {
		a.writeOpError(w, r, err)
		return
	}
	a.Log.Info("scaled", "app", res.App, "instances", res.Instances, "took_ms", res.DurationMS)
	out := api.ScaleResult{App: res.App, Instances: res.Instances, Serving: []api.InstanceRef{}, DurationMS: res.DurationMS}
	for _, in := range res.Serving {
		out.Serving = append(out.Serving, api.InstanceRef(in))
	}
	reply.JSON(w, http.StatusOK, out)
}
