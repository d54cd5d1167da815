package apiserver

import (
	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/cmd/internal/reply"
	"net/http"
)

// handleStatus serves GET /api/v1/status[?app=A&app=B]: a JSON array of
// procs.AppStatus, every app when no app is named.
func (a *API) handleStatus(w http.ResponseWriter, r *http.Request) {
	names := r.URL.Query()["app"]
	st, err := a.Sup.Status(names...)
	if err != nil {
		a.writeOpError(w, r, err)
		return
	}
	out := make([]api.AppStatus, len(st)) // [] rather than null
	for i := range st {
		out[i] = appStatus(st[i])
	}
	reply.JSON(w, http.StatusOK, out)
}

// handleAppStatus serves GET /api/v1/apps/{name}: one procs.AppStatus.
func (a *API) handleAppStatus(w http.ResponseWriter, r *http.Request) {
	st, err := a.Sup.Status(r.PathValue("name"))
	if err != nil {
		a.writeOpError(w, r, err)
		return
	}
	if len(st) != 1 {
		reply.Error(w, http.StatusInternalServerError, "status returned no app")
		return
	}
	reply.JSON(w, http.StatusOK, appStatus(st[0]))
}
