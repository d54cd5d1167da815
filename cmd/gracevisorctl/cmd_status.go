package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

func (c *cli) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status [APP...]",
		Short: "Show apps and their instances (exit 3 if a listed app is not RUNNING)",
		Example: `  gracevisorctl status
  gracevisorctl status demo --json`,
		ValidArgsFunction: c.completeApps,
		RunE:              op(c.runStatus),
	}
}

func (c *cli) runStatus(cmd *cobra.Command, args []string) error {
	cl, err := c.client(cmd)
	if err != nil {
		return err
	}
	apps, err := cl.Status(cmd.Context(), args...)
	if err != nil {
		return err
	}
	if c.json {
		err = c.printJSON(apps)
	} else {
		err = writeStatusTable(c.stdout, apps, time.Now())
	}
	if err != nil {
		return err
	}
	for _, a := range apps {
		if a.State != api.AppRunning {
			return api.WithCode(api.ExitNotRunning, nil)
		}
	}
	return nil
}

// completeApps completes app names from the daemon's status.
func (c *cli) completeApps(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	names, err := c.appNames(cmd)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// appNames lists every configured app.
func (c *cli) appNames(cmd *cobra.Command) ([]string, error) {
	cl, err := c.client(cmd)
	if err != nil {
		return nil, err
	}
	apps, err := cl.Status(cmd.Context())
	if err != nil {
		return nil, err
	}
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.Name
	}
	return names, nil
}
