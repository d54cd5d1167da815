package procs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/internal/testutil"
)

// fakeSystem is a scripted OS for lifecycle tests: no process is forked
// and no probe touches a socket. The i-th start follows script[i] (the
// last entry repeats). Safe for concurrent use.
type fakeSystem struct {
	mu      sync.Mutex // guards the fields below
	script  []fakeRun
	procs   []*fakeProc // every start, in order; nil for a failed one
	byPort  map[int]*fakeProc
	nextPID int
	// hold, if set, makes start block until it is closed (a slow fork).
	hold chan struct{}
}

// fakeRun is how one started process behaves.
type fakeRun struct {
	startErr      error // start fails with it
	crash         bool  // exits at once
	neverReady    bool  // its probes always fail
	gated         bool  // its probes fail until fakeProc.open
	sick          bool  // its first probe passes (ready), every later one fails
	exitThenReady bool  // exits at once; its readiness probe passes once the loop has dismissed it
}

// fakeProc is one fake process.
type fakeProc struct {
	run    fakeRun
	cfg    config.App
	port   int
	slot   int
	id     int
	open   atomic.Bool  // a gated process is ready
	probed atomic.Bool  // a probe has passed
	mem    atomic.Int64 // bytes, see memory

	once sync.Once
	done chan struct{} // closed when it exits
	err  error         // its exit, set before done closes

	mu      sync.Mutex // guards signals
	signals []syscall.Signal
}

func newFakeSystem(script ...fakeRun) *fakeSystem {
	return &fakeSystem{script: script, byPort: map[int]*fakeProc{}, nextPID: 1000}
}

func (f *fakeSystem) start(cfg *config.App, port, slot int, _, _ io.Writer) (process, error) {
	f.mu.Lock()
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	run := f.script[min(len(f.procs), len(f.script)-1)]
	if run.startErr != nil {
		f.procs = append(f.procs, nil)
		return nil, run.startErr
	}
	f.nextPID++
	p := &fakeProc{run: run, cfg: *cfg, port: port, slot: slot, id: f.nextPID, done: make(chan struct{})}
	f.procs = append(f.procs, p)
	f.byPort[port] = p
	if run.crash || run.exitThenReady {
		p.exit(errors.New("exit status 3"))
	}
	return p, nil
}

func (f *fakeSystem) prober(_ *config.App, port int) probe {
	f.mu.Lock()
	p := f.byPort[port]
	f.mu.Unlock()
	return p.probe
}

func (f *fakeSystem) close() {}

// proc returns the i-th started process (nil if that start failed).
func (f *fakeSystem) proc(i int) *fakeProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i >= len(f.procs) {
		return nil
	}
	return f.procs[i]
}

// starts is the number of starts so far, failed ones included.
func (f *fakeSystem) starts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.procs)
}

func (f *fakeSystem) setHold(c chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold = c
}

func (p *fakeProc) pid() int { return p.id }

// signal: TERM, INT … and KILL all end a fake process.
func (p *fakeProc) signal(sig syscall.Signal) {
	p.mu.Lock()
	p.signals = append(p.signals, sig)
	p.mu.Unlock()
	p.exit(fmt.Errorf("signal: %v", sig))
}

func (p *fakeProc) wait() error {
	<-p.done
	return p.err
}

func (p *fakeProc) exit(err error) {
	p.once.Do(func() { p.err = err; close(p.done) })
}

func (p *fakeProc) exited() bool { return testutil.Closed(p.done) }

func (p *fakeProc) gotSignal(sig syscall.Signal) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.signals {
		if s == sig {
			return true
		}
	}
	return false
}

var errFakeRefused = errors.New("connection refused")

func (p *fakeProc) probe(ctx context.Context) (string, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port))
	switch {
	case p.run.exitThenReady:
		<-ctx.Done() // the loop handled the exit and ended the readiness wait
		return addr, nil
	case p.exited(), p.run.neverReady, p.run.gated && !p.open.Load():
		return "", errFakeRefused
	case p.run.sick && p.probed.Load():
		return "", fmt.Errorf("GET /health: 500: %w", errNotHealthy)
	}
	p.probed.Store(true)
	return addr, nil
}

// memory is the fake process's memory use, as set by setMemory.
func (p *fakeProc) memory() (int64, bool) { return p.mem.Load(), true }

func (p *fakeProc) setMemory(bytes int64) { p.mem.Store(bytes) }
