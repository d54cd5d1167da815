package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Paths of the binaries TestMain builds.
var (
	binDaemon string
	binCtl    string
	binDemo   string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gracevisor-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	binDaemon = filepath.Join(dir, "gracevisord")
	binCtl = filepath.Join(dir, "gracevisorctl")
	binDemo = filepath.Join(dir, "demoapp")
	code := m.Run()
	if left := leftoverApps(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: app processes outlived their daemons: %v\n", left)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: leaked goroutines:", err)
			return 1
		}
	}
	return code
}

// build compiles the three binaries into dir, with the version stamped the
// way the Makefile does.
func build(dir string) error {
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version=e2e-test", "-o", dir+string(os.PathSeparator),
		"github.com/gracevisor/gracevisor/cmd/gracevisord",
		"github.com/gracevisor/gracevisor/cmd/gracevisorctl",
		"github.com/gracevisor/gracevisor/cmd/demoapp")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// leftoverApps waits briefly for app processes to finish exiting, then
// returns any that are still alive.
func leftoverApps() []int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := runningDemoapps()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}
