package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/internal/testutil"
)

// In mode childBrokenStderr the test binary is the daemon whose stderr is
// a broken pipe: it logs into the file named by envLogFile.
const (
	childBrokenStderr = "broken-stderr"
	envLogFile        = "GRACEVISORD_TEST_LOG_FILE"
)

// logToBrokenStderr is the child: it logs three lines with --log-stderr.
func logToBrokenStderr() int {
	log, closer, err := openLog(config.LogFile{Path: os.Getenv(envLogFile), Rotation: config.Rotation{MaxSizeMB: 1}}, true, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer closer.Close()
	for _, msg := range []string{"first", "second", "third"} {
		log.Info(msg)
	}
	return 0
}

// With --log-stderr and a stderr pipe whose reader has gone, the daemon
// neither dies of SIGPIPE nor stops writing its log file.
func TestBrokenStderrKeepsFileLogging(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // nobody reads: writes to w raise SIGPIPE / EPIPE
	defer w.Close()
	path := filepath.Join(t.TempDir(), "gracevisord.log")
	cmd := testutil.ChildCommand(t, childBrokenStderr)
	cmd.Env = append(cmd.Env, envLogFile+"="+path)
	cmd.Stderr = w
	if err := cmd.Run(); err != nil {
		t.Fatalf("daemon logging to a broken stderr: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"msg=first", "msg=second", "msg=third"} {
		if !strings.Contains(string(b), msg) {
			t.Errorf("log file lacks %q:\n%s", msg, b)
		}
	}
}
