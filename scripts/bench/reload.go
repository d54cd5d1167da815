//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// measureReload keeps wrk's short-connection load on gracevisord's demo app while
// `gracevisorctl reload demo` runs o.reloads times; then `gracevisorctl upgrade`
// (the daemon replaces itself) o.upgrades times; then `restart`, which stops the
// app before starting it again, to show what a non-hitless restart costs. An
// upgrade's time is the command's: from the request to the new daemon serving.
func measureReload(ctx context.Context, st *stack, o options, res *results) error {
	gv := st.target("gracevisord")
	for _, op := range []string{"reload", "upgrade", "restart"} {
		count, args := o.reloads, []string{op, "demo"}
		if op == "upgrade" {
			count, args = o.upgrades, []string{op}
		}
		stop := make(chan struct{})
		type wrkOut struct {
			w   wrkResult
			err error
		}
		done := make(chan wrkOut, 1)
		go func() {
			w, err := runWrk(ctx, gv.demo, 0, stop, false)
			done <- wrkOut{w, err}
		}()
		time.Sleep(time.Second) // let the load ramp up before the first operation
		var durs []float64
		failedOps := 0
		for i := 0; i < count; i++ {
			t0 := time.Now()
			if out, err := st.ctl(ctx, args...); err != nil {
				failedOps++
				fmt.Fprintf(os.Stderr, "   %s %d failed: %v %s\n", op, i, err, out)
			}
			durs = append(durs, float64(time.Since(t0).Microseconds())/1000)
		}
		time.Sleep(time.Second) // and keep it a moment after the last one
		close(stop)
		r := <-done
		if r.err != nil {
			return fmt.Errorf("%s: %w", op, r.err)
		}
		maxMS := 0.0
		for _, d := range durs {
			maxMS = max(maxMS, d)
		}
		if op == "upgrade" { // the proxy's CPU and memory are the new daemon's from now on
			pid, err := st.daemonPID(ctx)
			if err != nil {
				return err
			}
			gv.pid = pid
		}
		res.Reload = append(res.Reload, reloadRow{Operation: op, Count: count, OpFailures: failedOps,
			RPS: r.w.rps, Requests: r.w.requests, FailedRequests: r.w.failedRequests,
			FailedConns: r.w.failedConns, MedianMS: median(durs), MaxMS: maxMS})
	}
	return nil
}
