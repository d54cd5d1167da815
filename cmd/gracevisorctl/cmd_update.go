package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

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
			cl, err := c.client(cmd)
			if err != nil {
				return err
			}
			ch, err := cl.Update(cmd.Context())
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(ch)
			}
			printChanges(c.stdout, ch)
			return nil
		}),
	}
}

func printChanges(w io.Writer, ch api.Changes) {
	if len(ch.Added)+len(ch.Removed)+len(ch.Changed) == 0 {
		fmt.Fprintln(w, "no changes")
		return
	}
	for _, l := range []struct {
		label string
		names []string
	}{{"added:  ", ch.Added}, {"removed:", ch.Removed}, {"changed:", ch.Changed}} {
		if len(l.names) > 0 {
			fmt.Fprintf(w, "%s %s\n", l.label, strings.Join(l.names, ", "))
		}
	}
}
