package ctl

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// Build is which gracevisorctl runs: the client's side of Version.
type Build struct {
	Version string `json:"version"`
	BuildID string `json:"build_id"`
	Go      string `json:"go"`
}

// Version prints the client's version and build id and the daemon's, with
// its pid, start time and state; with --json {"client": …, "daemon": …}.
// An unreachable daemon still gets the client's printed, then exits 5.
func (s *Session) Version(ctx context.Context, client Build) error {
	var dv api.Version
	cl, err := s.Client()
	if err == nil {
		dv, err = cl.Version(ctx)
	}
	if s.JSON {
		out := struct {
			Client Build        `json:"client"`
			Daemon *api.Version `json:"daemon,omitempty"`
		}{Client: client}
		if err == nil {
			out.Daemon = &dv
		}
		if perr := s.printJSON(out); perr != nil {
			return perr
		}
		return err
	}
	fmt.Fprintf(s.Stdout, "gracevisorctl %s\n", buildLine(client.Version, client.BuildID, client.Go))
	if err != nil {
		return err
	}
	writeDaemonVersion(s.Stdout, dv, time.Now())
	return nil
}

// writeDaemonVersion prints the daemon's lines of `version`; what a daemon
// from before build ids does not send is left out.
func writeDaemonVersion(w io.Writer, v api.Version, now time.Time) {
	fmt.Fprintf(w, "gracevisord   %s\n", buildLine(v.Version, v.BuildID, v.Go))
	if v.PID == 0 {
		return
	}
	fmt.Fprintf(w, "              pid %d", v.PID)
	if !v.StartedAt.IsZero() {
		fmt.Fprintf(w, ", started %s (up %s)", v.StartedAt.Local().Format(time.RFC3339), formatUptime(now.Sub(v.StartedAt)))
	}
	if v.State != "" {
		fmt.Fprintf(w, ", %s", v.State)
	}
	fmt.Fprintln(w)
}

// buildLine is "VERSION (build ID, GO)", without the parts that are empty.
func buildLine(version, buildID, goVersion string) string {
	var extra string
	switch {
	case buildID != "" && goVersion != "":
		extra = "build " + buildID + ", " + goVersion
	case buildID != "":
		extra = "build " + buildID
	default:
		extra = goVersion
	}
	if extra == "" {
		return version
	}
	return version + " (" + extra + ")"
}
