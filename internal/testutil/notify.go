package testutil

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// ListenNotify binds a unix datagram socket like systemd's notify socket
// and returns it and the NOTIFY_SOCKET value that names it: a path in a
// temporary directory, or with abstract an "@name" in Linux's abstract
// namespace. The socket is closed at cleanup.
func ListenNotify(t testing.TB, abstract bool) (*net.UnixConn, string) {
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

// ReadDatagram returns the next datagram on conn, failing the test if none
// arrives within 5 s.
func ReadDatagram(t testing.TB, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}
