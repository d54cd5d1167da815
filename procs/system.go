package procs

import (
	"context"
	"fmt"
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
	// start runs cfg's command for the instance in slot on port, in a
	// process group of its own, its output going to stdout and stderr.
	start(cfg *config.App, port, slot int, stdout, stderr io.Writer) (process, error)
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
	// group (its cgroup) has been SIGKILLed, reaps it, and returns
	// cmd.Wait's result, wrapping errOOMKilled if the OOM killer ended it.
	// It is called once.
	wait() error
	// memory is the instance's memory use in bytes (its cgroup's, or the
	// RSS of its processes); ok is false when it cannot be known.
	memory() (bytes int64, ok bool)
}

// realSystem forks real processes (on Linux from a spawner thread, so that
// Pdeathsig ties them to the daemon), each in a cell of its containment
// (nil: its process group alone), and probes over TCP/HTTP.
type realSystem struct {
	fork    forker
	contain *Containment
}

func newRealSystem(c *Containment) *realSystem { return &realSystem{fork: newForker(), contain: c} }

func (s *realSystem) start(cfg *config.App, port, slot int, stdout, stderr io.Writer) (process, error) {
	cmd, err := buildCommand(cfg, port, slot)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = pipeWaitDelay
	cl, err := s.contain.newCell(cfg)
	if err != nil {
		return nil, err
	}
	if err := cl.prepare(cmd); err != nil {
		cl.release()
		return nil, err
	}
	if err := s.fork.start(cmd); err != nil {
		cl.release()
		return nil, err
	}
	p := &osProcess{cmd: cmd, cell: cl}
	if err := p.started(cfg.Limits.Nofile); err != nil {
		p.killGroup()
		_ = p.wait()
		return nil, err
	}
	return p, nil
}

// started finishes the start: the cell's part (v1 cgroups, records) and
// nofile. Both come right after the fork: the process runs its first
// instant without them (see cgroupCell.started).
func (p *osProcess) started(nofile int) error {
	if err := p.cell.started(p.pid()); err != nil {
		return fmt.Errorf("contain pid %d: %w", p.pid(), err)
	}
	if nofile > 0 {
		if err := setNofile(p.pid(), nofile); err != nil {
			return fmt.Errorf("nofile %d for pid %d: %w", nofile, p.pid(), err)
		}
	}
	return nil
}

func (s *realSystem) prober(cfg *config.App, port int) probe {
	return proberFor(cfg, port).probeAddr
}

func (s *realSystem) close() {
	s.fork.close()
	if s.contain != nil {
		s.contain.plat.close()
	}
}

// osProcess is a process started by realSystem.
type osProcess struct {
	cmd  *exec.Cmd
	cell cell

	mu   sync.Mutex // guards gone, so no signal can reach a reused pid
	gone bool       // reaped (or about to be): its pid must not be signalled
}

func (p *osProcess) pid() int { return p.cmd.Process.Pid }

func (p *osProcess) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.gone {
		_ = syscall.Kill(-p.pid(), sig)
		if sig == syscall.SIGKILL { // past stop_timeout: all of it, grandchildren too
			p.cell.kill()
		}
	}
}

// killGroup SIGKILLs what is left of the process group and of the cell,
// and signals nothing after that.
func (p *osProcess) killGroup() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone = true
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	p.cell.kill()
}

func (p *osProcess) memory() (int64, bool) { return p.cell.memory() }

// reaped reaps the process after its cell was killed, and removes the cell.
func (p *osProcess) reaped() error {
	p.cell.settle()
	oom := p.cell.oomKilled()
	err := p.cmd.Wait()
	p.cell.release()
	if oom {
		return fmt.Errorf("%w (%w)", errOOMKilled, err)
	}
	return err
}

// PlatformLimits lists, in plain words, the guarantees gracevisor cannot
// give on this platform (empty on Linux), for the daemon to log once at
// start.
func PlatformLimits() []string { return platformLimits }
