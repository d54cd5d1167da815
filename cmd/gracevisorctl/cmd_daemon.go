package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

func (c *cli) shutdownCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "shutdown",
		Short: "Stop every app gracefully, then the daemon; returns once the apps have stopped",
		Args:  usageArgs(cobra.NoArgs),
		RunE: op(func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client(cmd)
			if err != nil {
				return err
			}
			reply, err := cl.Shutdown(cmd.Context())
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(reply)
			}
			fmt.Fprintln(c.stdout, "gracevisord: every app stopped; the daemon is exiting")
			return nil
		}),
	}
}

func (c *cli) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the versions of gracevisorctl and of the running gracevisord",
		Args:  usageArgs(cobra.NoArgs),
		RunE: op(func(cmd *cobra.Command, _ []string) error {
			var dv api.Version
			cl, err := c.client(cmd)
			if err == nil {
				dv, err = cl.Version(cmd.Context())
			}
			if c.json {
				out := struct {
					Client string       `json:"client"`
					Daemon *api.Version `json:"daemon,omitempty"`
				}{Client: version}
				if err == nil {
					out.Daemon = &dv
				}
				if perr := c.printJSON(out); perr != nil {
					return perr
				}
				return err
			}
			fmt.Fprintf(c.stdout, "gracevisorctl %s\n", version)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "gracevisord   %s (%s)\n", dv.Version, dv.Go)
			return nil
		}),
	}
}
