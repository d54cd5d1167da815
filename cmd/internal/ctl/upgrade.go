package ctl

import (
	"context"
	"fmt"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// Upgrade asks the daemon to replace itself with the binary at its path and
// blocks until the new daemon serves or the upgrade failed. On a terminal it
// prints each step as the daemon reports it; otherwise one result line, or
// with --json the api.UpgradeResult (an api.ErrorReply on failure).
func (s *Session) Upgrade(ctx context.Context) error {
	cl, err := s.Client()
	if err != nil {
		return err
	}
	var onEvent func(api.UpgradeEvent)
	if s.Terminal && !s.JSON {
		onEvent = s.printStep
	}
	res, err := cl.Upgrade(ctx, onEvent)
	if s.JSON {
		var reply any = res
		if err != nil {
			reply = api.ErrorReply{Error: err.Error()}
		}
		if perr := s.printJSON(reply); perr != nil && err == nil {
			return perr
		}
		return err
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Stdout, "upgraded: pid %d (%s) → pid %d (%s) in %s\n",
		res.OldPID, res.OldVersion, res.NewPID, res.NewVersion, shortDuration(res.DurationMS))
	return nil
}

// printStep prints one step of an upgrade as it happens. Done and failed
// are the result, printed (or reported) by Upgrade.
func (s *Session) printStep(ev api.UpgradeEvent) {
	var line string
	switch ev.Step {
	case api.StepWaiting:
		line = "waiting: " + ev.Detail
	case api.StepStarted:
		line = fmt.Sprintf("new daemon started (pid %d, version %s)", ev.PID, ev.Version)
	case api.StepAppReady:
		line = "app " + ev.App + " ready"
	case api.StepReady:
		line = "new daemon serves every app"
	case api.StepHandover:
		line = "listeners handed over"
	case api.StepDraining:
		line = fmt.Sprintf("old daemon%s draining %d connection%s", pidParen(ev.PID), ev.Connections, plural(ev.Connections))
	case api.StepDone, api.StepFailed:
		return
	default: // a step of a newer daemon
		line = ev.Step
		if ev.Detail != "" {
			line += ": " + ev.Detail
		}
	}
	fmt.Fprintln(s.Stdout, line)
}

func pidParen(pid int) string {
	if pid == 0 {
		return ""
	}
	return fmt.Sprintf(" (pid %d)", pid)
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// shortDuration is a duration in milliseconds as the API sends it: to the
// millisecond below a second, to a tenth of a second above.
func shortDuration(ms float64) time.Duration {
	d := millis(ms)
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d
}
