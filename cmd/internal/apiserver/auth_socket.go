package apiserver

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gracevisor/gracevisor/config"
)

// Listen opens the control API's listeners: TCP on rpc.host:rpc.port
// unless the port is 0, and the unix socket when rpc.socket is set. On
// error, whatever was opened is closed again.
func Listen(rpc config.RPC, inherit Inherit) ([]net.Listener, error) {
	if inherit == nil {
		inherit = bindNew
	}
	var lns []net.Listener
	if rpc.TCP() {
		ln, err := inherit("tcp", rpc.Addr(), func() (net.Listener, error) { return net.Listen("tcp", rpc.Addr()) })
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
	}
	if rpc.Socket != "" {
		ln, err := inherit("unix", rpc.Socket, func() (net.Listener, error) { return listenSocket(rpc) })
		if err != nil {
			CloseAll(lns)
			return nil, err
		}
		if ul, ok := ln.(*net.UnixListener); ok { // inherited from the daemon this one replaces
			ln, err = adoptSocket(ul, rpc.Socket)
			if err != nil {
				CloseAll(append(lns, ul))
				return nil, err
			}
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// Inherit returns the listener for network and addr that a previous daemon
// handed over, or the one bind makes (see cmd/internal/upgrade).
type Inherit func(network, addr string, bind func() (net.Listener, error)) (net.Listener, error)

func bindNew(_, _ string, bind func() (net.Listener, error)) (net.Listener, error) { return bind() }

// adoptSocket takes over the rpc.socket a previous daemon placed: this
// daemon now removes its file at the end, if it is still that file.
func adoptSocket(ln *net.UnixListener, path string) (net.Listener, error) {
	ln.SetUnlinkOnClose(false)
	placed, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("rpc.socket %s: %w", path, err)
	}
	return &socketListener{UnixListener: ln, path: path, placed: placed}, nil
}

// HandedOver marks lns as handed to a successor daemon: closing them then
// leaves the rpc.socket file in place, for the successor serves on it.
func HandedOver(lns []net.Listener) {
	for _, ln := range lns {
		if sl, ok := ln.(*socketListener); ok {
			sl.keep.Store(true)
		}
	}
}

func CloseAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

// listenSocket binds rpc.socket with rpc.socket_mode and rpc.socket_owner.
// The socket is bound inside a fresh 0700 directory next to its final path,
// given its mode and owner there, and only then renamed into place: nobody
// can connect to it while its permissions are still the umask's.
func listenSocket(rpc config.RPC) (net.Listener, error) {
	path := rpc.Socket
	uid, gid, err := rpc.SocketOwnerIDs()
	if err != nil {
		return nil, fmt.Errorf("rpc.socket %s: %w", path, err)
	}
	if err := clearStaleSocket(path); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("rpc.socket: %w", err)
	}
	tmpDir, err := os.MkdirTemp(filepath.Dir(path), ".gracevisord-sock-")
	if err != nil {
		return nil, fmt.Errorf("rpc.socket: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("rpc.socket %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false) // it will not be at tmp any more; socketListener removes path
	if err := placeSocket(tmp, path, rpc.SocketMode, uid, gid); err != nil {
		ln.Close()
		return nil, fmt.Errorf("rpc.socket %s: %w", path, err)
	}
	placed, err := os.Stat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("rpc.socket %s: %w", path, err)
	}
	return &socketListener{UnixListener: ln, path: path, placed: placed}, nil
}

func placeSocket(tmp, path string, mode os.FileMode, uid, gid int) error {
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	if uid != -1 || gid != -1 {
		if err := os.Chown(tmp, uid, gid); err != nil {
			return err
		}
	}
	return os.Rename(tmp, path)
}

// clearStaleSocket removes a socket file left by a daemon that died, and
// refuses a path where something else lives: a file that is not a socket,
// or a socket another process still answers on.
func clearStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rpc.socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("rpc.socket %s exists and is not a socket; refusing to replace it", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("rpc.socket %s: already in use (is another gracevisord running?)", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("rpc.socket: remove stale socket: %w", err)
	}
	return nil
}

// socketListener removes its socket file when closed, unless the file is
// no longer the one it placed (another daemon has put its own there). Safe
// for concurrent use.
type socketListener struct {
	*net.UnixListener
	path   string
	placed os.FileInfo
	once   sync.Once
	keep   atomic.Bool // handed over: leave the file (HandedOver)
}

func (l *socketListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if l.keep.Load() {
			return
		}
		if fi, err := os.Stat(l.path); err == nil && os.SameFile(fi, l.placed) {
			os.Remove(l.path)
		}
	})
	return err
}
