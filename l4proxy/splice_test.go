package l4proxy

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestSpliceUsed checks that the copy path is splice(2): Go creates a pipe
// only for splice, so a proxy child holding one open link must hold two
// more pipes (one per direction) than before it had any connection.
func TestSpliceUsed(t *testing.T) {
	srv := newServer(t, echo)
	child := startProxyChild(t, srv.addr(), "")
	pid := child.cmd.Process.Pid
	before := countPipes(t, pid)
	c := dial(t, child.addr)
	if err := roundTrip(c, "through splice"); err != nil {
		t.Fatal(err)
	}
	during := countPipes(t, pid)
	c.Close()
	if during-before != 2 {
		t.Fatalf("proxy holds %d pipes with one open link, %d before; want 2 more (one splice pipe per direction)", during, before)
	}
}

// countPipes counts the distinct pipes among pid's open descriptors.
func countPipes(t *testing.T, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("cannot read %s: %v", dir, err)
	}
	pipes := make(map[string]bool)
	for _, e := range entries {
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(target, "pipe:") {
			pipes[target] = true
		}
	}
	return len(pipes)
}
