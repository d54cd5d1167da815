//go:build linux

package procs

import (
	"errors"
	"os/exec"
	"runtime"
	"sync"
)

// errSpawnerClosed is returned by spawner.start after close.
var errSpawnerClosed = errors.New("supervisor is shut down")

// A spawner starts child processes from one dedicated OS thread.
//
// Why: Linux delivers a child's Pdeathsig when the *thread* that forked it
// exits, not when the process does. The Go runtime may retire an ordinary
// thread (e.g. one a goroutine locked and then exited on), which would
// SIGKILL healthy children. spawnLoop locks its goroutine to its thread and
// keeps it for as long as the spawner is open, so every child's parent thread
// lives until the supervisor is shut down. When spawnLoop returns the thread
// is destroyed (the goroutine is still locked), so any straggler dies with it
// — unless the thread is the process's main thread, which the runtime never
// ends; children then die with the process, which is just as good.
//
// A spawner is safe for concurrent use.
type spawner struct {
	reqs      chan spawnRequest
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type spawnRequest struct {
	cmd   *exec.Cmd
	reply chan error
}

func newSpawner() *spawner {
	s := &spawner{
		reqs: make(chan spawnRequest),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	go spawnLoop(s.reqs, s.quit, s.done)
	return s
}

// spawnLoop runs every cmd.Start on one locked OS thread until quit closes.
func spawnLoop(reqs <-chan spawnRequest, quit <-chan struct{}, done chan<- struct{}) {
	runtime.LockOSThread() // never unlocked: see the spawner doc.
	defer close(done)
	for {
		select {
		case r := <-reqs:
			r.reply <- r.cmd.Start()
		case <-quit:
			return
		}
	}
}

// start runs cmd.Start on the spawner's thread.
func (s *spawner) start(cmd *exec.Cmd) error {
	reply := make(chan error, 1)
	select {
	case s.reqs <- spawnRequest{cmd: cmd, reply: reply}:
		return <-reply
	case <-s.quit:
		return errSpawnerClosed
	}
}

// close stops the spawner's thread. Call it only once every child it started
// has exited; a child still alive then gets its Pdeathsig (SIGKILL).
func (s *spawner) close() {
	s.closeOnce.Do(func() { close(s.quit) })
	<-s.done
}
