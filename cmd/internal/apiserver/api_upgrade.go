package apiserver

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// handleUpgrade serves POST /api/v1/upgrade: it replaces the daemon with
// the gracevisord binary at its own path and streams each step as one JSON
// line (application/x-ndjson) as it happens, ending with StepDone or
// StepFailed. Refusals that change nothing come before the stream, as an
// ordinary error: 409 while another upgrade runs, 503 during a shutdown.
func (a *API) handleUpgrade(w http.ResponseWriter, r *http.Request) {
	if a.Base.Err() != nil {
		a.writeOpError(w, r, errShuttingDown)
		return
	}
	s := &eventStream{w: w}
	res, err := a.Upgrade(s.send)
	if !s.started { // refused before anything happened
		if err == nil {
			err = errors.New("upgrade ended without a step")
		}
		a.writeOpError(w, r, err) // 409: in progress, still starting; 503: shutting down
		return
	}
	if err != nil {
		a.Log.Error("upgrade failed; this daemon goes on serving", "err", err)
		s.send(api.UpgradeEvent{Step: api.StepFailed, Detail: err.Error()})
		return
	}
	s.send(api.UpgradeEvent{Step: api.StepDone, PID: res.NewPID, Result: &res})
}

// eventStream writes upgrade events as JSON lines, flushing each, once
// the first one came: the status line goes out with it.
type eventStream struct {
	w       http.ResponseWriter
	started bool
}

func (s *eventStream) send(ev api.UpgradeEvent) {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/x-ndjson")
		s.w.Header().Set("Cache-Control", "no-store")
		s.w.WriteHeader(http.StatusOK)
	}
	_ = json.NewEncoder(s.w).Encode(ev) // a client that left misses the rest; the upgrade goes on
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}
