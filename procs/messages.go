package procs

import (
	"context"

	"github.com/gracevisor/gracevisor/config"
)

// The messages an app's loop takes, one at a time (see appLoop). Requests
// come from the Supervisor and carry a reply channel; reports come from the
// app's helper goroutines and carry a fact that the loop records. Nothing
// else reaches the loop, and nothing but the loop writes its state.
type message interface{ isMessage() }

// Requests.
type (
	// startReq: make the app run (see doStart).
	startReq struct{ w waiter }
	// reloadReq: replace the serving instance (see doReload).
	reloadReq struct{ w waiter }
	// updateReq: take a changed config (see doUpdate).
	updateReq struct {
		cfg config.App
		w   waiter
	}
	// stopReq: stop the app (see doStop); ack is answered at once, done
	// is closed when no instance is left.
	stopReq struct {
		done chan struct{}
		ack  chan<- outcome
	}
	// terminateReq: stop without draining and end the loop (see doTerminate).
	terminateReq struct{}
	// scaleReq (scale.go): serve a number of instances.
	// rollbackReq: switch back to the instance before the last reload
	// while its rollback window is open (see doRollback).
	rollbackReq struct{ reply chan<- outcome }
)

// Reports.
type (
	// exited: the instance's process has exited (in.exited is closed).
	exited struct{ in *instance }
	// ready: the readiness wait of a starting instance ended; reached is the
	// address its passing probe connected to.
	ready struct {
		in      *instance
		reached string
		err     error
	}
	// probeFailed: a health check of the serving instance failed, the
	// inARow-th in a row.
	probeFailed struct {
		in     *instance
		err    error
		inARow int
	}
	// stopping: a retired or dismissed instance is done draining (or never
	// served); it gets its stop signal now.
	stopping struct{ in *instance }
	// frontClosed: a retired front's proxy has shut down.
	frontClosed struct{ f *front }
	// memoryHigh: the instance's memory stayed above memory_reload.
	memoryHigh struct {
		in   *instance
		used int64
	}
)

func (startReq) isMessage()     {}
func (reloadReq) isMessage()    {}
func (updateReq) isMessage()    {}
func (stopReq) isMessage()      {}
func (terminateReq) isMessage() {}
func (rollbackReq) isMessage()  {}
func (exited) isMessage()       {}
func (ready) isMessage()        {}
func (probeFailed) isMessage()  {}
func (stopping) isMessage()     {}
func (frontClosed) isMessage()  {}
func (memoryHigh) isMessage()   {}

// handle runs one message on the loop.
func (a *app) handle(m message) {
	switch m := m.(type) {
	case startReq:
		a.doStart(m.w)
	case reloadReq:
		a.doReload(m.w)
	case updateReq:
		a.doUpdate(m.cfg, m.w)
	case stopReq:
		a.doStop(m.done)
		a.send(m.ack, outcome{})
	case terminateReq:
		a.doTerminate()
	case rollbackReq:
		a.doRollback(m.reply)
	case scaleReq:
		a.doScale(m.n, m.w)
	case handoverReq:
		a.doHandover()
	case drained:
		a.doTerminate()
	case exited:
		a.noteExit(m.in)
		a.onExit(m.in)
	case ready:
		a.onReady(m.in, m.reached, m.err)
	case probeFailed:
		a.onProbeFailed(m.in, m.err, m.inARow)
	case stopping:
		a.onStopping(m.in)
	case frontClosed:
		a.traffic.closed(m.f)
	case memoryHigh:
		a.onMemoryHigh(m.in, m.used)
	}
}

// post hands a report to the loop; it is dropped if the loop has ended.
func (a *app) post(m message) {
	select {
	case a.inbox <- m:
	case <-a.dead:
	}
}

// request sends m, whose reply channel is reply, and waits for the
// outcome. If ctx ends first the caller stops waiting; the operation
// itself goes on.
func (a *app) request(ctx context.Context, m message, reply <-chan outcome) (outcome, error) {
	select {
	case a.inbox <- m:
	case <-a.dead:
		return outcome{}, errAppGone
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
	select {
	case o := <-reply:
		return o, nil
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
}
