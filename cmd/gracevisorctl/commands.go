package main

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/cmd/internal/buildinfo"
	"github.com/gracevisor/gracevisor/cmd/internal/ctl"
)

// The commands: arguments and flags here, what they do in package ctl.

func (c *cli) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status [APP...]",
		Short: "Show apps and their instances (exit 3 if a listed app is not RUNNING)",
		Example: `  gracevisorctl status
  gracevisorctl status demo --json`,
		ValidArgsFunction: c.completeApps,
		RunE: op(func(cmd *cobra.Command, args []string) error {
			return c.Status(cmd.Context(), args)
		}),
	}
}

// appOpCmd is start, stop or restart.
func (c *cli) appOpCmd(opName, short, done string) *cobra.Command {
	return &cobra.Command{
		Use:               opName + " APP...",
		Short:             short,
		Args:              usageArgs(cobra.MinimumNArgs(1)),
		ValidArgsFunction: c.completeApps,
		RunE: op(func(cmd *cobra.Command, args []string) error {
			return c.AppOp(cmd.Context(), opName, done, args)
		}),
	}
}

func (c *cli) reloadCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "reload APP... | --all",
		Short: "Hitless reload: start a new instance, switch traffic when it is ready, drain the old one",
		Long: `Hitless reload: start a new instance, switch new connections to it once it
is ready, then drain and stop the old one. Blocks until the new instance
serves. If it never becomes ready the reload fails (exit 1) and the old
instance keeps serving.`,
		Args: usageArgs(func(_ *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return errors.New("give app names or --all, not both")
			case !all && len(args) == 0:
				return errors.New("requires at least 1 app name, or --all")
			}
			return nil
		}),
		ValidArgsFunction: c.completeApps,
		RunE: op(func(cmd *cobra.Command, args []string) error {
			return c.Reload(cmd.Context(), args, all)
		}),
	}
	cmd.Flags().BoolVar(&all, "all", false, "reload every app")
	return cmd
}

func (c *cli) rollbackCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rollback APP...",
		Short: "Switch back to the instance before the last reload, while its rollback_window is open",
		Long: `While the last reload's rollback window (rollback_window) is open, the
instance that served before it still runs: switch new connections back to
it at once, and drain and stop the new one. Exit 1 "nothing to roll back
to" when no window is open.`,
		Args:              usageArgs(cobra.MinimumNArgs(1)),
		ValidArgsFunction: c.completeApps,
		RunE: op(func(cmd *cobra.Command, args []string) error {
			return c.Rollback(cmd.Context(), args)
		}),
	}
}

func (c *cli) scaleCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "scale APP N",
		Short: "Run N instances of an app (1-64) until the next update or upgrade",
		Long: `Make N instances of a running app serve, without touching the others.
Scaling up starts the new slots and blocks until each serves; scaling down
stops sending new connections to the highest slots, which drain and stop.
The count lasts until the next update or upgrade, which applies the
config file's instances again. Exit 1 while the app starts, reloads or
restarts an instance (retry then), 2 for a count out of range.`,
		Example: `  gracevisorctl scale web 4`,
		Args: usageArgs(func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return errors.New("want an app and a count: scale APP N")
			}
			if n, err := strconv.Atoi(args[1]); err != nil || n < 1 || n > 64 {
				return fmt.Errorf("N must be a whole number from 1 to 64, got %q", args[1])
			}
			return nil
		}),
		ValidArgsFunction: c.completeApps,
		RunE: op(func(cmd *cobra.Command, args []string) error {
			n, _ := strconv.Atoi(args[1])
			return c.Scale(cmd.Context(), args[0], n)
		}),
	}
}

func (c *cli) updateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "update",
		Short: "Re-read the config: start added apps, stop removed ones, reload changed ones",
		Long: `Ask the daemon to re-read its config files (the directory it was started
with). Added apps start, removed apps stop, changed apps are reloaded
hitlessly, unchanged apps are not touched. An invalid config changes
nothing: the problems are printed one per line and the exit code is 1.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: op(func(cmd *cobra.Command, _ []string) error {
			return c.Update(cmd.Context())
		}),
	}
}

func (c *cli) logsCmd() *cobra.Command {
	var (
		follow, stderr bool
		lines          int
	)
	cmd := &cobra.Command{
		Use:   "logs APP",
		Short: "Print the end of an app's log; -f follows it until Ctrl-C",
		Example: `  gracevisorctl logs demo -n 50
  gracevisorctl logs demo -f --stderr`,
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: c.completeApps,
		RunE: op(func(cmd *cobra.Command, args []string) error {
			if err := checkLines(lines); err != nil {
				return err
			}
			stream := "stdout"
			if stderr {
				stream = "stderr"
			}
			return c.Logs(cmd.Context(), args[0], stream, lines, follow)
		}),
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing what the app writes, until Ctrl-C")
	cmd.Flags().IntVarP(&lines, "lines", "n", 10, "print the last N lines first")
	cmd.Flags().BoolVar(&stderr, "stderr", false, "the app's stderr log instead of stdout")
	return cmd
}

func (c *cli) fgCmd() *cobra.Command {
	var lines int
	cmd := &cobra.Command{
		Use:   "fg APP",
		Short: "Follow an app's stdout and stderr live; Ctrl-C detaches, the app keeps running",
		Long: `Follow both of an app's log streams from now on (-n N: show the last N
lines of each first): its stdout to stdout, its stderr to stderr (once, when
both go to one file). Ctrl-C detaches; the app keeps running.`,
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: c.completeApps,
		RunE: op(func(cmd *cobra.Command, args []string) error {
			if err := checkLines(lines); err != nil {
				return err
			}
			return c.Fg(cmd.Context(), args[0], lines)
		}),
	}
	cmd.Flags().IntVarP(&lines, "lines", "n", 0, "print the last N lines of each stream first")
	return cmd
}

func checkLines(n int) error {
	if n < 0 {
		return api.WithCode(api.ExitUsage, fmt.Errorf("-n %d: want 0 or more lines", n))
	}
	return nil
}

func (c *cli) shutdownCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "shutdown",
		Short: "Stop every app gracefully, then the daemon; returns once the apps have stopped",
		Args:  usageArgs(cobra.NoArgs),
		RunE: op(func(cmd *cobra.Command, _ []string) error {
			return c.Shutdown(cmd.Context())
		}),
	}
}

func (c *cli) upgradeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "upgrade",
		Short: "Replace gracevisord by the binary at its path, handing over every listener; nothing is lost",
		Long: `Ask gracevisord to start the binary found at its own path (so a binary
replaced on disk is the one that starts) with the same arguments, and to
hand it every listener. The new daemon reads the config afresh and starts
one new instance per app; once every app serves, the old daemon stops
accepting, lets its connections finish and exits. Blocks until then: on a
terminal each step is printed as it happens, otherwise one result line
(--json: the result as JSON).

On any failure (binary missing, config invalid, an app never ready, the new
daemon crashing or hanging) the old daemon keeps serving as before and the
exit code is 1, with the new daemon's error.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: op(func(cmd *cobra.Command, _ []string) error {
			return c.Upgrade(cmd.Context())
		}),
	}
}

func (c *cli) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and build id of gracevisorctl and of the running gracevisord",
		Long: `Print the version and build id of gracevisorctl and of the running
gracevisord, with the daemon's pid, start time and state (serving,
upgrading, draining, stopping). --json: {"client": {...}, "daemon": {...}}.
If the daemon is unreachable the client's line is still printed (exit 5).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: op(func(cmd *cobra.Command, _ []string) error {
			return c.Version(cmd.Context(), ctl.Build{Version: version, BuildID: buildinfo.ID(buildID), Go: runtime.Version()})
		}),
	}
}
