package ctl

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// Update asks the daemon to re-read its config and prints what changed.
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
		return s.printJSON(ch)
	}
	printChanges(s.Stdout, ch)
	return nil
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
