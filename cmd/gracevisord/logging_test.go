package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gracevisor/gracevisor/config"
)

// envLogChild makes TestBrokenStderrKeepsFileLogging act as the daemon
// whose stderr is a broken pipe: it logs into the file named here.
const envLogChild = "GRACEVISORD_TEST_LOG_CHILD"

// With --log-stderr and a stderr pipe whose reader has gone, the daemon
// neither dies of SIGPIPE nor stops writing its log file.
func TestBrokenStderrKeepsFileLogging(t *testing.T) {
	if path := os.Getenv(envLogChild); path != "" {
		log, closer, err := openLog(config.LogFile{Path: path, Rotation: config.Rotation{MaxSizeMB: 1}}, true, false)
		if err != nil {
			t.Fatal(err)
		}
		defer closer.Close()
		for _, msg := range []string{"first", "second", "third"} {
			log.Info(msg)
		}
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // nobody reads: writes to w raise SIGPIPE / EPIPE
	defer w.Close()
	path := filepath.Join(t.TempDir(), "gracevisord.log")
	cmd := exec.Command(self, "-test.run=^TestBrokenStderrKeepsFileLogging$")
	cmd.Env = append(os.Environ(), envLogChild+"="+path)
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
