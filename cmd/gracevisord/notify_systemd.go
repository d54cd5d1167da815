package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// systemd's notification protocol (sd_notify(3)): datagrams of
// newline-separated VAR=value assignments sent to $NOTIFY_SOCKET.
const (
	sdReady     = "READY=1"
	sdStopping  = "STOPPING=1"
	sdReloading = "RELOADING=1"
)

// sdNotifier sends state changes to systemd when gracevisord runs as a
// Type=notify service; without NOTIFY_SOCKET it does nothing. Safe for
// concurrent use.
type sdNotifier struct {
	addr *net.UnixAddr // nil: not run by systemd
}

// newSDNotifier reads NOTIFY_SOCKET and removes it from the environment,
// so apps do not inherit gracevisord's socket.
func newSDNotifier() *sdNotifier {
	name := os.Getenv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
	if name == "" {
		return &sdNotifier{}
	}
	if name[0] == '@' { // abstract socket
		name = "\x00" + name[1:]
	}
	return &sdNotifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// notify sends the assignments in one datagram; a no-op without systemd.
func (n *sdNotifier) notify(state string) error {
	if n.addr == nil {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// reloading is RELOADING=1 with the monotonic time systemd asks for.
func reloading() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	usec := ts.Nano() / int64(time.Microsecond)
	return sdReloading + "\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10)
}
