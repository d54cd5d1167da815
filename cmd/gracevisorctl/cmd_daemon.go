package main

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
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
			var reply struct {
				Status string `json:"status"`
			}
			if err := cl.call(cmd.Context(), http.MethodPost, "/api/v1/shutdown", nil, &reply); err != nil {
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

// daemonVersion is the reply of GET /api/v1/version.
type daemonVersion struct {
	Version string `json:"version"`
	Go      string `json:"go"`
}

func (c *cli) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the versions of gracevisorctl and of the running gracevisord",
		Args:  usageArgs(cobra.NoArgs),
		RunE: op(func(cmd *cobra.Command, _ []string) error {
			var dv daemonVersion
			cl, err := c.client(cmd)
			if err == nil {
				err = cl.call(cmd.Context(), http.MethodGet, "/api/v1/version", nil, &dv)
			}
			if c.json {
				out := struct {
					Client string         `json:"client"`
					Daemon *daemonVersion `json:"daemon,omitempty"`
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
