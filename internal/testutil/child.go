package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// The re-exec protocol: a package's test binary doubles as the helper
// process its tests need (an app to supervise, a proxy under its own
// descriptor limit, a daemon with a broken stderr). The test starts the
// binary again with ChildEnv set to a mode; TestMain sees it before any
// test runs and becomes that child:
//
//	func TestMain(m *testing.M) {
//		if mode := testutil.ChildMode(); mode != "" {
//			os.Exit(runChild(mode))
//		}
//		goleak.VerifyTestMain(m)
//	}
//
// Modes and their knobs (further environment variables) belong to the
// package; this file only carries the protocol.

// ChildEnv names the environment variable whose value is the mode a
// re-executed test binary runs in.
const ChildEnv = "GRACEVISOR_TEST_CHILD"

// ChildMode returns the mode this process was started in, or "" when it is
// the test binary running its tests.
func ChildMode() string { return os.Getenv(ChildEnv) }

// ChildEnviron returns the environment entries that make a re-executed
// test binary run mode. They also turn off the race detector's one-second
// sleep at exit, which every wait for a -race child would otherwise pay.
func ChildEnviron(mode string) []string {
	return []string{ChildEnv + "=" + mode, "GORACE=atexit_sleep_ms=0"}
}

// Executable returns the path of the running test binary.
func Executable(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return self
}

// ChildCommand returns the test binary as a child in mode, with args after
// a flag that matches no test: its environment is this process's plus
// ChildEnviron(mode). The caller may add to Env and set up its I/O, starts
// it, and waits for it (or kills it at cleanup).
func ChildCommand(t testing.TB, mode string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(Executable(t), append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = append(os.Environ(), ChildEnviron(mode)...)
	return cmd
}
