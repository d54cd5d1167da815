package ctl

import (
	"context"
	"fmt"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// Version prints the client's version and the daemon's. An unreachable
// daemon still gets the client's printed, then exits 5.
func (s *Session) Version(ctx context.Context, client string) error {
	var dv api.Version
	cl, err := s.Client()
	if err == nil {
		dv, err = cl.Version(ctx)
	}
	if s.JSON {
		out := struct {
			Client string       `json:"client"`
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
	fmt.Fprintf(s.Stdout, "gracevisorctl %s\n", client)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Stdout, "gracevisord   %s (%s)\n", dv.Version, dv.Go)
	return nil
}
