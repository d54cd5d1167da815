package ctl

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// AppOp is start, stop or restart (api.OpStart …) of each app: it prints
// "APP: DONE (STATE, pid N)", the outcome of that call (see outcome).
func (s *Session) AppOp(ctx context.Context, op, done string, names []string) error {
	cl, err := s.Client()
	if err != nil {
		return err
	}
	results := []api.OpReport{}
	err = s.eachApp(op, names, func(name string) error {
		rep, err := cl.Do(ctx, op, name)
		if err != nil {
			return err
		}
		results = append(results, rep)
		if !s.JSON {
			state, pid := outcome(rep)
			fmt.Fprintf(s.Stdout, "%s: %s (%s%s)\n", name, done, state, pidNote(pid))
		}
		return nil
	})
	return s.finishJSON(results, err)
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

// Reload reloads each app hitlessly (every app with all), one after the
// other; each call blocks until the new instance serves. On a terminal it
// says which app it waits for first.
func (s *Session) Reload(ctx context.Context, names []string, all bool) error {
	cl, err := s.Client()
	if err != nil {
		return err
	}
	if all {
		if names, err = s.AppNames(ctx); err != nil {
			return err
		}
	}
	results := []api.ReloadResult{}
	err = s.eachApp("reload", names, func(name string) error {
		if s.Terminal && !s.JSON {
			fmt.Fprintf(s.Stdout, "reloading %s…\n", name)
		}
		res, err := cl.Reload(ctx, name)
		if err != nil {
			return err
		}
		results = append(results, res)
		if !s.JSON {
			fmt.Fprintf(s.Stdout, "%s: reloaded: new pid %d on port %d, switched in %s\n", name, res.PID, res.Port, millis(res.DurationMS))
		}
		return nil
	})
	return s.finishJSON(results, err)
}

// millis is a duration in milliseconds as the API sends it, rounded to 1 ms.
func millis(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond)).Round(time.Millisecond)
}

// Rollback switches each app back to the instance before its last reload,
// while the reload's rollback window is open.
func (s *Session) Rollback(ctx context.Context, names []string) error {
	cl, err := s.Client()
	if err != nil {
		return err
	}
	results := []api.RollbackResult{}
	err = s.eachApp("rollback", names, func(name string) error {
		res, err := cl.Rollback(ctx, name)
		if err != nil {
			return err
		}
		results = append(results, res)
		if !s.JSON {
			fmt.Fprintf(s.Stdout, "%s: rolled back: pid %d on port %d serves again\n", name, res.PID, res.Port)
		}
		return nil
	})
	return s.finishJSON(results, err)
}

// Scale makes n instances of the app serve, until the next update or
// upgrade; it blocks until added instances serve.
func (s *Session) Scale(ctx context.Context, name string, n int) error {
	cl, err := s.Client()
	if err != nil {
		return err
	}
	res, err := cl.Scale(ctx, name, n)
	if err != nil {
		return err
	}
	if s.JSON {
		return s.finishJSON(res, nil)
	}
	pids := make([]string, len(res.Serving))
	for i, in := range res.Serving {
		pids[i] = fmt.Sprintf("%d:%d", in.Slot, in.PID)
	}
	fmt.Fprintf(s.Stdout, "%s: scaled to %d instances (slot:pid %s) in %s\n", name, res.Instances, strings.Join(pids, " "), millis(res.DurationMS))
	return nil
}
