package apiserver

import (
	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/cmd/internal/reply"
	"net/http"
	"runtime"
)

// handleUpdate serves POST /api/v1/update: re-read the config, apply it and
// answer with procs.Changes. An invalid config changes nothing: 422 with one
// problem per line.
func (a *API) handleUpdate(w http.ResponseWriter, r *http.Request) {
	if a.Base.Err() != nil {
		a.writeOpError(w, r, errShuttingDown)
		return
	}
	changes, err := a.Update(a.Base)
	if err != nil {
		a.writeOpError(w, r, err)
		return
	}
	a.Log.Info("config updated", "added", changes.Added, "removed", changes.Removed, "changed", changes.Changed)
	reply.JSON(w, http.StatusOK, wireChanges(changes))
}

// handleShutdown serves POST /api/v1/shutdown: it starts a graceful shutdown
// and answers once every app has stopped, so the caller knows the apps are
// gone when the request returns.
func (a *API) handleShutdown(w http.ResponseWriter, r *http.Request) {
	a.RequestShutdown()
	select {
	case <-a.Stopped:
		reply.JSON(w, http.StatusOK, api.ShutdownReply{Status: "stopped"})
	case <-r.Context().Done():
	}
}

// handleVersion serves GET /api/v1/version.
func (a *API) handleVersion(w http.ResponseWriter, r *http.Request) {
	reply.JSON(w, http.StatusOK, api.Version{Version: a.Version, Go: runtime.Version()})
}
