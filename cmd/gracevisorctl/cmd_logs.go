package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

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
			if lines < 0 {
				return api.WithCode(api.ExitUsage, fmt.Errorf("-n %d: want 0 or more lines", lines))
			}
			stream := "stdout"
			if stderr {
				stream = "stderr"
			}
			return c.runLogs(cmd.Context(), cmd, args[0], stream, lines, follow)
		}),
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing what the app writes, until Ctrl-C")
	cmd.Flags().IntVarP(&lines, "lines", "n", 10, "print the last N lines first")
	cmd.Flags().BoolVar(&stderr, "stderr", false, "the app's stderr log instead of stdout")
	return cmd
}

func (c *cli) runLogs(ctx context.Context, cmd *cobra.Command, app, stream string, lines int, follow bool) error {
	cl, err := c.client(cmd)
	if err != nil {
		return err
	}
	log, err := cl.Logs(ctx, app, stream, lines, follow)
	if err != nil {
		return err
	}
	defer log.Close()
	_, err = io.Copy(c.stdout, log)
	return streamEnd(ctx, follow, err)
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
			if lines < 0 {
				return api.WithCode(api.ExitUsage, fmt.Errorf("-n %d: want 0 or more lines", lines))
			}
			return c.runFg(cmd, args[0], lines)
		}),
	}
	cmd.Flags().IntVarP(&lines, "lines", "n", 0, "print the last N lines of each stream first")
	return cmd
}

func (c *cli) runFg(cmd *cobra.Command, app string, lines int) error {
	cl, err := c.client(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	out, err := cl.Logs(ctx, app, "stdout", lines, true)
	if err != nil {
		return err
	}
	defer out.Close()
	errs, err := cl.Logs(ctx, app, "stderr", lines, true)
	if err != nil {
		return err
	}
	defer errs.Close()
	done := make(chan error, 2)
	streams := 1
	go copyStream(c.stdout, out, done)
	if errs.Path != out.Path {
		streams++
		go copyStream(c.stderr, errs, done)
	}
	err = <-done
	cancel() // one stream ended: end the other too
	for range streams - 1 {
		<-done
	}
	return streamEnd(cmd.Context(), true, err)
}

// copyStream copies one followed log to w until it ends.
func copyStream(w io.Writer, r io.Reader, done chan<- error) {
	_, err := io.Copy(w, r)
	done <- err
}

// streamEnd says what the end of a log stream means: Ctrl-C is a normal
// detach; a followed stream ending by itself means the daemon went away.
func streamEnd(ctx context.Context, follow bool, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	if follow {
		return api.WithCode(api.ExitUnreachable, errors.New("log stream ended: gracevisord shut down or went away"))
	}
	if err != nil {
		return api.WithCode(api.ExitUnreachable, fmt.Errorf("reading log: %w", err))
	}
	return nil
}
