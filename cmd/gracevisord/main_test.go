package main

import (
	"os"
	"testing"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if testutil.ChildMode() == childBrokenStderr {
		os.Exit(logToBrokenStderr())
	}
	// lumberjack starts its mill goroutine on the first write to a log file
	// and never stops it (its channel is never closed); run() in tests that
	// log (TestRefusesExposedAPI) leaves one behind by design of the library.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"))
}
