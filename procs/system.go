package procs

import (
	"context"
	"io"
	"os/exec"
	"sync"
	"syscall"

	"github.com/gracevisor/gracevisor/config"
)

// system is the operating system as an app sees it (tableflip's env):
// starting an instance's process, and probing it for readiness and health.
// realSystem is the one the daemon uses; tests script a fake one, so the
// app loop's lifecycle runs without processes or sockets.
type system interface {
	// start runs cfg's command for an instance on port, in a process group
	// of its own, its output going to stdout and stderr.
	start(cfg *config.App, port int, stdout, stderr io.Writer) (process, error)
	// prober returns the check of an instance on port: an HTTP GET of the
	// healthcheck path expecting 200, or a TCP connect without one.
	prober(cfg *config.App, port int) probe
	// close releases what start needs; call it once every process started
	// has exited.
	close()
}

// A probe runs one check and returns the address (IP literal and port) it
// reached. Safe for concurrent use.
type probe func(ctx context.Context) (reached string, err error)

// A process is one started instance process.
type process interface {
	pid() int
	// signal sends sig to the process group, unless the process has exited.
	signal(sig syscall.Signal)
	// wait blocks until the process has exited and whatever was left of its
	// group has been SIGKILLed, reaps it, and returns cmd.Wait's result.
	// It is called once.
	wait() error
}

// realSystem forks real processes (on Linux from a spawner thread, so that
// Pdeathsig ties them to the daemon) and probes over TCP/HTTP.
type realSystem struct{ fork forker }

func newRealSystem() *realSystem { return &realSystem{fork: newForker()} }

func (s *realSystem) start(cfg *config.App, port int, stdout, stderr io.Writer) (process, error) {
	cmd, err := buildCommand(cfg, port)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = pipeWaitDelay
	if err := s.fork.start(cmd); err != nil {
		return nil, err
	}
	return &osProcess{cmd: cmd}, nil
}

func (s *realSystem) prober(cfg *config.App, port int) probe {
	return proberFor(cfg, port).probeAddr
}

func (s *realSystem) close() { s.fork.close() }

// osProcess is a process started by realSystem.
type osProcess struct {
	cmd *exec.Cmd

	mu   sync.Mutex // guards gone, so no signal can reach a reused pid
	gone bool       // reaped (or about to be): its pid must not be signalled
}

func (p *osProcess) pid() int { return p.cmd.Process.Pid }

func (p *osProcess) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.gone {
		_ = syscall.Kill(-p.pid(), sig)
	}
}

// killGroup SIGKILLs what is left of the process group and signals nothing
// after that.
func (p *osProcess) killGroup() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone = true
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
}

// PlatformLimits lists, in plain words, the guarantees gracevisor cannot
// give on this platform (empty on Linux), for the daemon to log once at
// start.
func PlatformLimits() []string { return platformLimits }
