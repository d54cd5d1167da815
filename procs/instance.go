package procs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/l4proxy"
	"github.com/gracevisor/gracevisor/ports"
)

var (
	// errExitedEarly: the process exited before it was ready.
	errExitedEarly = errors.New("exited before it was ready")
	// errStartTimeout: the process did not become ready within start_timeout.
	errStartTimeout = errors.New("not ready within start_timeout")
)

// pipeWaitDelay bounds how long an exited instance's log pipes may stay open
// (held by a process that left its group) before they are closed.
const pipeWaitDelay = 2 * time.Second

// deps are what every app and instance needs from its supervisor.
type deps struct {
	sys    system // the OS; set by Start unless a test set it
	ports  *ports.Allocator
	logs   *logFiles
	logger *slog.Logger
	timing timing
	events eventHook // see Supervisor.SetEventHook
	// contain holds the instances (see Supervisor.Contain); nil: process groups.
	contain *Containment
	// listen makes external listeners (nil: bind them); acceptWhenReady
	// holds each app's listener until the app serves. See TakeOver.
	listen          ListenFunc
	acceptWhenReady bool
}

// An instance is one process of an app, listening on its own internal port.
// The fields above the line are set before startInstance returns and are
// read-only afterwards; exitErr is written by waitInstance before exited
// closes. The fields below the line are owned by the app's loop.
type instance struct {
	cfg       config.App // the config it was started with
	port      int
	slot      int // its place among the app's instances: 0…instances-1 ({instance})
	pid       int
	startedAt time.Time
	proc      process
	stdout    *lineWriter
	stderr    *lineWriter
	ports     *ports.Allocator
	logFiles  *logFiles
	exited    chan struct{} // closed when reaped, group killed, logs flushed, port released
	exitErr   error         // the process's exit; read only after exited is closed

	// ---- owned by the app's loop ----
	state InstanceState
	// backend is where the proxies send the instance's clients, made when
	// it is ready (nil before): one per instance, even when an address
	// change makes two fronts use it.
	backend *l4proxy.Backend
	// older are backends of the instance retired earlier that may still
	// count connections: a rollback (rollback.go) routes to it again
	// through a new backend, since a retired one cannot be reused.
	older []*l4proxy.Backend
}

// startInstance acquires a port and starts cfg's command on it as the
// instance in slot. The instance is STARTING; waitInstance reaps it when
// it exits.
func startInstance(d *deps, pool *ports.Allocator, cfg *config.App, slot int) (*instance, error) {
	port, err := pool.Acquire(cfg.InternalHost)
	if err != nil {
		return nil, fmt.Errorf("acquire port: %w", err)
	}
	in := &instance{
		cfg: *cfg, port: port, slot: slot, ports: pool, logFiles: d.logs,
		state:  InstStarting,
		exited: make(chan struct{}),
		stdout: &lineWriter{file: d.logs.open(cfg.Stdout)},
		stderr: &lineWriter{file: d.logs.open(cfg.Stderr)},
	}
	in.proc, err = d.sys.start(cfg, port, slot, in.stdout, in.stderr)
	if err != nil {
		in.releaseResources()
		return nil, err
	}
	in.pid = in.proc.pid()
	in.startedAt = time.Now()
	go waitInstance(in)
	return in, nil
}

// waitInstance waits until the process has exited and its group is killed
// and reaped (see process.wait), writes its last log lines, releases its
// port, and then closes exited.
func waitInstance(in *instance) {
	err := in.proc.wait()
	in.stdout.flush()
	in.stderr.flush()
	// Its last lines are in the files when the exit is reported, unless
	// the disk is stuck: that may delay the exit by logStuckAfter at most.
	deadline := time.Now().Add(logStuckAfter)
	in.stdout.waitWritten(deadline)
	in.stderr.waitWritten(deadline)
	in.releaseResources()
	in.exitErr = err
	close(in.exited)
}

func (in *instance) releaseResources() {
	in.logFiles.release(in.stdout.file)
	in.logFiles.release(in.stderr.file)
	in.ports.Release(in.port)
}

// kill SIGKILLs the group and waits until the instance has exited.
func (in *instance) kill() {
	in.proc.signal(syscall.SIGKILL)
	<-in.exited
}

// stop sends the stop signal to the group and waits for the exit; after
// timeout (0 = no limit) or when ctx ends, it SIGKILLs the group.
func (in *instance) stop(ctx context.Context, sig syscall.Signal, timeout time.Duration) {
	if sig != 0 { // 0: the signal was sent already (early_stop_signal)
		in.proc.signal(sig)
	}
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	select {
	case <-in.exited:
		return
	case <-deadline:
	case <-ctx.Done():
	}
	in.kill()
}

// hasExited reports whether the process has exited (exitErr is then set).
func (in *instance) hasExited() bool {
	select {
	case <-in.exited:
		return true
	default:
		return false
	}
}

// exitError describes how the instance ended; call only after exited closed.
func (in *instance) exitError() error {
	if in.exitErr == nil {
		return errors.New("exited with status 0")
	}
	return in.exitErr
}

// exitCause describes how the instance ended, with the last line it wrote
// to stderr (often the reason it gives); call only after exited closed.
func (in *instance) exitCause() string {
	cause := in.exitError().Error()
	if in.stderr != nil && in.stderr.lastLine != "" {
		cause += fmt.Sprintf("; last stderr line: %q", in.stderr.lastLine)
	}
	return cause
}
