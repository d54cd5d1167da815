package main

import (
	"net/http"
	"runtime"

	"github.com/gracevisor/gracevisor/procs"
)

// handleUpdate serves POST /api/v1/update: re-read the config, apply it and
// answer with procs.Changes. An invalid config changes nothing: 422 with one
// problem per line.
func (a *api) handleUpdate(w http.ResponseWriter, r *http.Request) {
	if a.base.Err() != nil {
		a.writeOpError(w, r, errShuttingDown)
		return
	}
	changes, err := a.d.update(a.base)
	if err != nil {
		a.writeOpError(w, r, err)
		return
	}
	a.log.Info("config updated", "added", changes.Added, "removed", changes.Removed, "changed", changes.Changed)
	writeJSON(w, http.StatusOK, nonNilChanges(changes))
}

// nonNilChanges makes empty lists encode as [] rather than null.
func nonNilChanges(c procs.Changes) procs.Changes {
	for _, l := range []*[]string{&c.Added, &c.Removed, &c.Changed} {
		if *l == nil {
			*l = []string{}
		}
	}
	return c
}

// shutdownReply is the body of a successful POST /api/v1/shutdown.
type shutdownReply struct {
	Status string `json:"status"`
}

// handleShutdown serves POST /api/v1/shutdown: it starts a graceful shutdown
// and answers once every app has stopped, so the caller knows the apps are
// gone when the request returns.
func (a *api) handleShutdown(w http.ResponseWriter, r *http.Request) {
	a.requestShutdown()
	select {
	case <-a.stopped:
		writeJSON(w, http.StatusOK, shutdownReply{Status: "stopped"})
	case <-r.Context().Done():
	}
}

// versionReply is the body of GET /api/v1/version.
type versionReply struct {
	Version string `json:"version"`
	Go      string `json:"go"`
}

// handleVersion serves GET /api/v1/version.
func (a *api) handleVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, versionReply{Version: a.version, Go: runtime.Version()})
}
