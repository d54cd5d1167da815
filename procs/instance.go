package procs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gracevisor/gracevisor/config"
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

// deps are what every instance needs from its supervisor.
type deps struct {
	spawner *spawner
	logs    *logFiles
	logger  *slog.Logger
	events  eventHook // see Supervisor.SetEventHook
}

// An instance is one process of an app, listening on its own internal port.
// Its fields are set before startInstance returns and read-only afterwards,
// except state (guarded by mu) and exitErr (written before exited closes).
type instance struct {
	cfg       config.App // the config it was started with
	port      int
	pid       int
	startedAt time.Time

	cmd      *exec.Cmd
	stdout   *lineWriter
	stderr   *lineWriter
	ports    *ports.Allocator
	logFiles *logFiles

	mu    sync.Mutex
	state InstanceState
	gone  bool // the process has exited; its pid must not be signalled again

	exited  chan struct{} // closed when reaped, group killed, logs flushed, port released
	exitErr error         // cmd.Wait's result; read only after exited is closed
}

// startInstance acquires a port and starts cfg's command on it. The
// instance is STARTING; a goroutine reaps it when it exits.
func startInstance(d *deps, pool *ports.Allocator, cfg *config.App) (*instance, error) {
	port, err := pool.Acquire(cfg.InternalHost)
	if err != nil {
		return nil, fmt.Errorf("acquire port: %w", err)
	}
	cmd, err := buildCommand(cfg, port)
	if err != nil {
		pool.Release(port)
		return nil, err
	}
	in := &instance{
		cfg: *cfg, port: port, cmd: cmd, ports: pool, logFiles: d.logs,
		state:  InstStarting,
		exited: make(chan struct{}),
		stdout: &lineWriter{file: d.logs.open(cfg.Stdout)},
		stderr: &lineWriter{file: d.logs.open(cfg.Stderr)},
	}
	cmd.Stdout, cmd.Stderr = in.stdout, in.stderr
	cmd.WaitDelay = pipeWaitDelay
	if err := d.spawner.start(cmd); err != nil {
		in.releaseResources()
		return nil, err
	}
	in.pid = cmd.Process.Pid
	in.startedAt = time.Now()
	go waitInstance(in)
	return in, nil
}

// waitInstance waits for the process to exit, kills whatever is left of its
// process group (so nothing it spawned outlives it), then reaps it. The exit
// is observed with WNOWAIT first: until the reap, the zombie keeps its pid
// (and so the group id) from being reused, which makes the group kill safe.
func waitInstance(in *instance) {
	waitExitNoReap(in.pid)
	in.mu.Lock()
	in.gone = true
	_ = syscall.Kill(-in.pid, syscall.SIGKILL)
	in.mu.Unlock()

	err := in.cmd.Wait()
	in.stdout.flush()
	in.stderr.flush()
	// Its last lines are in the files when the exit is reported, unless
	// the disk is stuck: that may delay the exit by logStuckAfter at most.
	deadline := time.Now().Add(logStuckAfter)
	in.stdout.waitWritten(deadline)
	in.stderr.waitWritten(deadline)
	in.releaseResources()

	in.mu.Lock()
	in.exitErr = err
	in.state = InstExited
	in.mu.Unlock()
	close(in.exited)
}

// waitExitNoReap blocks until pid has exited without reaping it.
func waitExitNoReap(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

func (in *instance) releaseResources() {
	in.logFiles.release(in.stdout.file)
	in.logFiles.release(in.stderr.file)
	in.ports.Release(in.port)
}

// signal sends sig to the instance's process group unless it has exited.
func (in *instance) signal(sig syscall.Signal) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.gone {
		_ = syscall.Kill(-in.pid, sig)
	}
}

// kill SIGKILLs the group and waits until the instance has exited.
func (in *instance) kill() {
	in.signal(syscall.SIGKILL)
	<-in.exited
}

// stop sends the stop signal to the group and waits for the exit; after
// timeout (0 = no limit) or when ctx ends, it SIGKILLs the group.
func (in *instance) stop(ctx context.Context, sig syscall.Signal, timeout time.Duration) {
	in.setState(InstStopping)
	in.signal(sig)
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

// setState records a new state unless the instance has already exited.
func (in *instance) setState(s InstanceState) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.state != InstExited {
		in.state = s
	}
}

func (in *instance) getState() InstanceState {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.state
}

// exitError describes how the instance ended; call only after exited closed.
func (in *instance) exitError() error {
	if in.exitErr == nil {
		return errors.New("exited with status 0")
	}
	return in.exitErr
}
