package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/cmd/internal/ctl"
	"github.com/gracevisor/gracevisor/config"
)

// cli is one run: the global flags, and the session the commands run in.
type cli struct {
	ctl.Session
	root      *cobra.Command
	confDir   string
	rpcAddr   string
	tokenFile string
	caFile    string
}

func (c *cli) rootCmd() *cobra.Command {
	c.root = &cobra.Command{
		Use:   "gracevisorctl",
		Short: "Control gracevisord: status, hitless reloads, config updates, logs",
		Long: `gracevisorctl controls a running gracevisord through its HTTP control API.

Exit codes: 0 ok, 1 operation failed, 2 usage error, 3 status found an app
not RUNNING, 4 unknown app, 5 daemon unreachable.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := c.root.PersistentFlags()
	pf.StringVar(&c.confDir, "conf", config.DefaultDir, "config directory; the daemon's address is read from its rpc section")
	pf.StringVar(&c.rpcAddr, "rpc", "", "control API address HOST:PORT, https://HOST:PORT or unix:/path/to/socket (overrides --conf)")
	pf.StringVar(&c.caFile, "ca-file", "", "PEM file of the CA that signed the daemon's TLS certificate (rpc.tls); turns TLS on (default: the system roots, when TLS is on)")
	pf.StringVar(&c.tokenFile, "token-file", "", "file holding the API token (default: the config's rpc.token_file)")
	pf.BoolVar(&c.JSON, "json", false, "print replies as JSON")
	c.root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return api.WithCode(api.ExitUsage, err)
	})
	c.Client = c.client
	c.root.AddCommand(
		c.statusCmd(),
		c.appOpCmd(api.OpStart, "Start apps", "started"),
		c.appOpCmd(api.OpStop, "Stop apps gracefully (drain, stop_signal, stop_timeout)", "stopped"),
		c.appOpCmd(api.OpRestart, "Hard-restart apps: stop, then start", "restarted"),
		c.reloadCmd(),
		c.rollbackCmd(),
		c.scaleCmd(),
		c.updateCmd(),
		c.logsCmd(),
		c.fgCmd(),
		c.shutdownCmd(),
		c.upgradeCmd(),
		c.versionCmd(),
	)
	return c.root
}

// op wraps a command's run function so that every error it returns carries
// an exit code: errors without one are operation failures.
func op(run func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := run(cmd, args)
		var coded *api.ExitError
		if err != nil && !errors.As(err, &coded) {
			return api.WithCode(api.ExitFailed, err)
		}
		return err
	}
}

// usageArgs makes an argument validator's errors usage errors.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return api.WithCode(api.ExitUsage, err)
		}
		return nil
	}
}

// client returns a client for the daemon the flags point at.
func (c *cli) client() (*api.Client, error) {
	ep, err := api.Resolve(c.rpcAddr, c.confDir, c.root.PersistentFlags().Changed("conf"))
	if err != nil {
		return nil, err
	}
	ep = ep.WithCA(c.caFile)
	tok, err := ep.Token(c.tokenFile)
	if err != nil {
		return nil, err
	}
	return api.NewClient(ep, tok), nil
}

// completeApps completes app names from the daemon's status.
func (c *cli) completeApps(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	names, err := c.AppNames(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
