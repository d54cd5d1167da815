package sdnotify

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listenNotify binds a unix datagram socket like systemd's and returns it
// and the NOTIFY_SOCKET value naming it.
func listenNotify(t *testing.T, abstract bool) (*net.UnixConn, string) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify")
	env := name
	if abstract {
		name = "\x00gracevisor-test-" + filepath.Base(t.TempDir())
		env = "@" + name[1:]
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, env
}

func readDatagram(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// TestSDNotify: states reach the socket named by NOTIFY_SOCKET (a path or
// an abstract name), which stays in the environment for a successor daemon
// (procs keeps it from the apps).
func TestSDNotify(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		conn, env := listenNotify(t, abstract)
		t.Setenv("NOTIFY_SOCKET", env)
		n := New()
		if err := n.Notify(ReadyAsMain()); err != nil {
			t.Fatal(err)
		}
		if got, want := readDatagram(t, conn), fmt.Sprintf("MAINPID=%d\nREADY=1", os.Getpid()); got != want {
			t.Errorf("abstract=%v: got %q, want %q", abstract, got, want)
		}
		if err := n.Notify(Ready); err != nil {
			t.Fatal(err)
		}
		if got := readDatagram(t, conn); got != "READY=1" {
			t.Errorf("abstract=%v: got %q", abstract, got)
		}
		if err := n.Notify(Reloading()); err != nil {
			t.Fatal(err)
		}
		if got := readDatagram(t, conn); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
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
