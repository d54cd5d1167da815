//go:build linux

package procs

import (
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// The spawner's thread is the parent thread of every child: while it lives
// the child lives, and when it ends Pdeathsig kills the child. This is what
// ties children to the daemon's life rather than to some runtime thread.
func TestSpawnerThreadCarriesPdeathsig(t *testing.T) {
	sys := newRealSystem(nil)
	d := &deps{sys: sys, logs: newLogFiles(testLogger(t)), logger: testLogger(t)}
	app := testApp(t, "orphan", modeHTTP)
	in := startTestInstance(t, d, testPorts(), &app)
	waitTestReady(t, in)
	if !testutil.Alive(in.pid) {
		t.Fatal("child died while the spawner thread lives")
	}
	sys.close() // the spawner's locked thread exits
	select {
	case <-in.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("child outlived the thread that forked it")
	}
	if got := in.exitError().Error(); got != "signal: killed" {
		t.Errorf("exit = %q, want signal: killed (Pdeathsig)", got)
	}
	if err := sys.fork.start(in.proc.(*osProcess).cmd); err != errSpawnerClosed {
		t.Errorf("start after close = %v", err)
	}
}
