package ctl

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// Update asks the daemon to re-read its config and prints what changed. An
// app that did not get ready is marked "(not ready)" in those lines, and
// its reason goes to stderr; the update is then exit 1 (the other changes
// stay done).
func (s *Session) Update(ctx context.Context) error {
	cl, err := s.Client()
	if err != nil {
		return err
	}
	ch, err := cl.Update(ctx)
	if err != nil {
		return err
	}
	if s.JSON {
		err = s.printJSON(ch)
	} else {
		printChanges(s.Stdout, ch)
	}
	if err != nil || len(ch.Failed) == 0 {
		return err
	}
	names := make([]string, len(ch.Failed))
	for i, f := range ch.Failed {
		names[i] = f.App
		fmt.Fprintf(s.Stderr, "gracevisorctl: %s did not get ready: %s\n", f.App, f.Error)
	}
	return api.WithCode(api.ExitFailed, fmt.Errorf("update applied, but %d app(s) did not get ready: %s",
		len(names), strings.Join(names, ", ")))
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
			fmt.Fprintf(w, "%s %s\n", l.label, strings.Join(marked(l.names, ch.Failed), ", "))
		}
	}
}

// marked is names with " (not ready)" after each one that failed.
func marked(names []string, failed []api.AppFailure) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n
		for _, f := range failed {
			if f.App == n {
				out[i] += " (not ready)"
			}
		}
	}
	return out
}

// Shutdown stops every app and the daemon; it returns once the apps stopped.
func (s *Session) Shutdown(ctx context.Context) error {
	cl, err := s.Client()
	if err != nil {
		return err
	}
	reply, err := cl.Shutdown(ctx)
	if err != nil {
		return err
	}
	if s.JSON {
		return s.printJSON(reply)
	}
	fmt.Fprintln(s.Stdout, "gracevisord: every app stopped; the daemon is exiting")
	return nil
}
