package main

import (
	"net/http"

	"github.com/gracevisor/gracevisor/procs"
)

// handleStatus serves GET /api/v1/status[?app=A&app=B]: a JSON array of
// procs.AppStatus, every app when no app is named.
func (a *api) handleStatus(w http.ResponseWriter, r *http.Request) {
	names := r.URL.Query()["app"]
	st, err := a.d.sup.Status(names...)
	if err != nil {
		a.writeOpError(w, r, err)
		return
	}
	if st == nil {
		st = []procs.AppStatus{} // [] rather than null
	}
	writeJSON(w, http.StatusOK, st)
}

// handleAppStatus serves GET /api/v1/apps/{name}: one procs.AppStatus.
func (a *api) handleAppStatus(w http.ResponseWriter, r *http.Request) {
	st, err := a.d.sup.Status(r.PathValue("name"))
	if err != nil {
		a.writeOpError(w, r, err)
		return
	}
	if len(st) != 1 {
		writeError(w, http.StatusInternalServerError, "status returned no app")
		return
	}
	writeJSON(w, http.StatusOK, st[0])
}
