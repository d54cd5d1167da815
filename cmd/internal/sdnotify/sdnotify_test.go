package sdnotify

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// TestSDNotify: states reach the socket named by NOTIFY_SOCKET (a path or
// an abstract name), which stays in the environment for a successor daemon
// (procs keeps it from the apps).
func TestSDNotify(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		conn, env := testutil.ListenNotify(t, abstract)
		t.Setenv("NOTIFY_SOCKET", env)
		n := New()
		if err := n.Notify(ReadyAsMain()); err != nil {
			t.Fatal(err)
		}
		if got, want := testutil.ReadDatagram(t, conn), fmt.Sprintf("MAINPID=%d\nREADY=1", os.Getpid()); got != want {
			t.Errorf("abstract=%v: got %q, want %q", abstract, got, want)
		}
		if err := n.Notify(Ready); err != nil {
			t.Fatal(err)
		}
		if got := testutil.ReadDatagram(t, conn); got != "READY=1" {
			t.Errorf("abstract=%v: got %q", abstract, got)
		}
		if err := n.Notify(Reloading()); err != nil {
			t.Fatal(err)
		}
		if got := testutil.ReadDatagram(t, conn); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
			t.Errorf("reloading: got %q", got)
		}
	}
}

// TestSDNotifyWithoutSystemd: no NOTIFY_SOCKET, no-op; a socket that is
// gone is an error (logged by the caller).
func TestSDNotifyWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := New().Notify(Ready); err != nil {
		t.Errorf("without systemd: %v", err)
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone"))
	if err := New().Notify(Ready); err == nil || !strings.Contains(err.Error(), "sd_notify") {
		t.Errorf("missing socket: %v", err)
	}
}
