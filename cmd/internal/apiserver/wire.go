package apiserver

import (
	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/procs"
)

// The supervisor's types, translated field for field into the wire types
// of cmd/internal/api, which fix the JSON. Where the two have the same
// fields, a conversion says so and fails to compile when they drift apart.

func appStatus(s procs.AppStatus) api.AppStatus {
	out := api.AppStatus{
		Name: s.Name, State: api.AppState(s.State), External: s.External, Restarts: s.Restarts,
		Since: s.Since, LastError: s.LastError, LastReload: string(s.LastReload), Reason: s.Reason, Containment: s.Containment,
		Instances: make([]api.InstanceStatus, len(s.Instances)),
	}
	for i, in := range s.Instances {
		out.Instances[i] = api.InstanceStatus{Slot: in.Slot, PID: in.PID, Port: in.Port, State: api.InstanceState(in.State),
			Connections: in.Connections, StartedAt: in.StartedAt}
	}
	return out
}

func reloadResult(r procs.ReloadResult) api.ReloadResult {
	out := api.ReloadResult{App: r.App, PID: r.PID, Port: r.Port, DurationMS: r.DurationMS}
	for _, in := range r.Instances {
		out.Instances = append(out.Instances, api.InstanceRef(in))
	}
	return out
}

func opResult(r procs.OpResult) api.OpResult {
	return api.OpResult{App: r.App, State: api.AppState(r.State), PID: r.PID, Port: r.Port}
}

// wireChanges makes empty lists encode as [] rather than null.
func wireChanges(c procs.Changes) api.Changes {
	out := api.Changes{Added: c.Added, Removed: c.Removed, Changed: c.Changed, Failed: []api.AppFailure{}}
	for _, l := range []*[]string{&out.Added, &out.Removed, &out.Changed} {
		if *l == nil {
			*l = []string{}
		}
	}
	for _, f := range c.Failed {
		out.Failed = append(out.Failed, api.AppFailure(f))
	}
	return out
}
