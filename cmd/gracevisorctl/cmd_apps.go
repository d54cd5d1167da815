package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// appOpCmd is start, stop or restart: POST /api/v1/apps/{name}/{op} for each
// app, printing the outcome of that call (see outcome).
func (c *cli) appOpCmd(opName, short, done string) *cobra.Command {
	return &cobra.Command{
		Use:               opName + " APP...",
		Short:             short,
		Args:              usageArgs(cobra.MinimumNArgs(1)),
		ValidArgsFunction: c.completeApps,
		RunE: op(func(cmd *cobra.Command, args []string) error {
			cl, err := c.client(cmd)
			if err != nil {
				return err
			}
			results := []api.OpReport{}
			err = c.eachApp(opName, args, func(name string) error {
				rep, err := cl.Do(cmd.Context(), opName, name)
				if err != nil {
					return err
				}
				results = append(results, rep)
				if !c.json {
					state, pid := outcome(rep)
					fmt.Fprintf(c.stdout, "%s: %s (%s%s)\n", name, done, state, pidNote(pid))
				}
				return nil
			})
			return c.finishJSON(results, err)
		}),
	}
}

// outcome is the state and pid this call left the app in: the reply's
// result. The app object beside it was read afterwards, and a concurrent
// operation may have changed it (a stop right after our start would print
// "started (STOPPED)"). A daemon from before the result field sends only
// the app object.
func outcome(rep api.OpReport) (api.AppState, int) {
	if rep.Result.State != "" {
		return rep.Result.State, rep.Result.PID
	}
	if len(rep.Instances) == 0 {
		return rep.State, 0
	}
	return rep.State, rep.Instances[0].PID
}

func pidNote(pid int) string {
	if pid == 0 {
		return ""
	}
	return fmt.Sprintf(", pid %d", pid)
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
			return c.runReload(cmd, args, all)
		}),
	}
	cmd.Flags().BoolVar(&all, "all", false, "reload every app")
	return cmd
}

func (c *cli) runReload(cmd *cobra.Command, names []string, all bool) error {
	cl, err := c.client(cmd)
	if err != nil {
		return err
	}
	if all {
		if names, err = c.appNames(cmd); err != nil {
			return err
		}
	}
	results := []api.ReloadResult{}
	err = c.eachApp("reload", names, func(name string) error {
		res, err := cl.Reload(cmd.Context(), name)
		if err != nil {
			return err
		}
		results = append(results, res)
		if !c.json {
			d := time.Duration(res.DurationMS * float64(time.Millisecond)).Round(time.Millisecond)
			fmt.Fprintf(c.stdout, "%s: reloaded: new pid %d on port %d, switched in %s\n", name, res.PID, res.Port, d)
		}
		return nil
	})
	return c.finishJSON(results, err)
}

// eachApp runs do for every app in order, reporting each failure on stderr
// as it happens. It stops early only when the daemon is unreachable or the
// user interrupted. The returned error carries the first failure's exit code
// and no message (it was reported).
func (c *cli) eachApp(opName string, names []string, do func(name string) error) error {
	first := api.ExitOK
	for _, name := range names {
		err := do(name)
		if err == nil {
			continue
		}
		if !strings.Contains(err.Error(), name) { // the daemon's messages name the app already
			err = fmt.Errorf("%s %s: %w", opName, name, err)
		}
		code := report(c.stderr, err)
		if first == api.ExitOK {
			first = code
		}
		if code == api.ExitUnreachable || errors.Is(err, api.ErrInterrupted) {
			break
		}
	}
	if first == api.ExitOK {
		return nil
	}
	return api.WithCode(first, nil)
}

// finishJSON prints the collected results with --json (also after partial
// failure, so scripts see what succeeded) and passes err on.
func (c *cli) finishJSON(results any, err error) error {
	if c.json {
		if perr := c.printJSON(results); perr != nil && err == nil {
			return perr
		}
	}
	return err
}
