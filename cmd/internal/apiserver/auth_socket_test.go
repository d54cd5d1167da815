package apiserver

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/config"
)

func sockStat(t *testing.T, path string) (os.FileMode, uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("%s is %v, not a socket", path, fi.Mode())
	}
	return fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Uid
}

func TestSocketModeAndCleanup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "gv.sock")
	ln, err := listenSocket(config.RPC{Socket: path, SocketMode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	if mode, uid := sockStat(t, path); mode != 0o600 || int(uid) != os.Getuid() {
		t.Errorf("mode %04o uid %d, want 0600 and %d", mode, uid, os.Getuid())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("leftovers next to the socket: %v", entries)
	}
	// A second daemon on the same socket is refused while the first answers.
	if _, err := listenSocket(config.RPC{Socket: path, SocketMode: 0o600}); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("second listener: %v", err)
	}
	ln.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after Close: %v", err)
	}
}

// TestSocketNotOursIsKept: a daemon closing its listener must not remove a
// socket file another daemon has placed at the same path since.
func TestSocketNotOursIsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gv.sock")
	ln, err := listenSocket(config.RPC{Socket: path, SocketMode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", path+".other")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := os.Rename(path+".other", path); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("the other daemon's socket was removed: %v", err)
	}
}

func TestSocketOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("changing a socket's owner needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	path := filepath.Join(t.TempDir(), "gv.sock")
	ln, err := listenSocket(config.RPC{Socket: path, SocketMode: 0o660, SocketOwner: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if mode, uid := sockStat(t, path); mode != 0o660 || fmt.Sprint(uid) != nobody.Uid {
		t.Errorf("mode %04o uid %d, want 0660 and %s", mode, uid, nobody.Uid)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gv.sock")
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close() // the file stays; nobody answers: a daemon that died
	ln, err := listenSocket(config.RPC{Socket: path, SocketMode: 0o600})
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln.Close()
}

func TestSocketPathNotASocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gv.sock")
	if err := os.WriteFile(path, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := listenSocket(config.RPC{Socket: path, SocketMode: 0o600}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("regular file at the socket path: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "data" {
		t.Fatal("the file was touched")
	}
}

// Through a real socket, the server learns the caller's uid and pid from
// the kernel.
func TestPeerCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gv.sock")
	ln, err := listenSocket(config.RPC{Socket: path, SocketMode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := peerOf(r)
			fmt.Fprintf(w, "%v %s", p.unix, p.who)
		}),
		ConnContext: peerContext,
	}
	done := make(chan error, 1)
	go Serve(srv, ln, done)
	defer srv.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := hc.Get("http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf("true uid=%d pid=%d", os.Getuid(), os.Getpid())
	if string(body) != want {
		t.Fatalf("peer %q, want %q", body, want)
	}
}
