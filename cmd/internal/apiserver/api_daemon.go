package apiserver

import (
	"fmt"
	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/cmd/internal/reply"
	"net/http"
	"os"
	"runtime"
)

// handleUpdate serves POST /api/v1/update: re-read the config, apply it and
// answer with procs.Changes, 200 once a valid config was applied, its
// failed list naming the added or changed apps that did not get ready. An
// invalid config changes nothing: 422 with one problem per line.
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
	for _, f := range changes.Failed {
		a.Log.Error("update: app did not get ready", "app", f.App, "err", f.Error)
	}
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
	reply.JSON(w, http.StatusOK, api.Version{
		Version: a.Version, Go: runtime.Version(), BuildID: a.Daemon.BuildID,
		PID: os.Getpid(), StartedAt: a.Daemon.StartedAt, State: a.Daemon.state(),
		Containment: a.Daemon.Containment,
	})
}

// handleHealth serves GET /healthz for balancers: 200 while the daemon
// accepts clients, 503 once it is on its way out (draining after an
// upgrade, or stopping), so that new connections go to other hosts first.
// The body is the state, one word and a newline.
func (a *API) handleHealth(w http.ResponseWriter, r *http.Request) {
	state := a.Daemon.state()
	code := http.StatusOK
	if state == api.DaemonDraining || state == api.DaemonStopping {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, state)
}
