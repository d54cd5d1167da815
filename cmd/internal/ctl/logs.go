package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// Logs prints the last lines of one of an app's streams ("stdout" or
// "stderr") and, with follow, what it writes next until ctx ends (Ctrl-C,
// exit 0) or the daemon ends the stream (exit 5).
func (s *Session) Logs(ctx context.Context, app, stream string, lines int, follow bool) error {
	cl, err := s.Client()
	if err != nil {
		return err
	}
	log, err := cl.Logs(ctx, app, stream, lines, follow)
	if err != nil {
		return err
	}
	defer log.Close()
	_, err = io.Copy(s.Stdout, log)
	return streamEnd(ctx, follow, err)
}

// Fg follows both of an app's streams, its stdout to Stdout and its stderr
// to Stderr (once when both go to one file), until ctx ends or the daemon
// ends a stream.
func (s *Session) Fg(ctx context.Context, app string, lines int) error {
	cl, err := s.Client()
	if err != nil {
		return err
	}
	streamsCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	out, err := cl.Logs(streamsCtx, app, "stdout", lines, true)
	if err != nil {
		return err
	}
	defer out.Close()
	errs, err := cl.Logs(streamsCtx, app, "stderr", lines, true)
	if err != nil {
		return err
	}
	defer errs.Close()
	done := make(chan error, 2)
	streams := 1
	go copyStream(s.Stdout, out, done)
	if errs.Path != out.Path {
		streams++
		go copyStream(s.Stderr, errs, done)
	}
	err = <-done
	cancel() // one stream ended: end the other too
	for range streams - 1 {
		<-done
	}
	return streamEnd(ctx, true, err)
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
