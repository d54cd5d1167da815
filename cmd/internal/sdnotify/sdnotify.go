package sdnotify

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
	Ready     = "READY=1"
	Stopping  = "STOPPING=1"
	reloading = "RELOADING=1"
)

// Notifier sends state changes to systemd when gracevisord runs as a
// Type=notify service; without NOTIFY_SOCKET it does nothing. Safe for
// concurrent use.
type Notifier struct {
	addr *net.UnixAddr // nil: not run by systemd
}

// New reads NOTIFY_SOCKET and removes it from the environment,
// so apps do not inherit gracevisord's socket.
func New() *Notifier {
	name := os.Getenv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
	if name == "" {
		return &Notifier{}
	}
	if name[0] == '@' { // abstract socket
		name = "\x00" + name[1:]
	}
	return &Notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// Notify sends the assignments in one datagram; a no-op without systemd.
func (n *Notifier) Notify(state string) error {
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

// Reloading is RELOADING=1 with the monotonic time systemd asks for.
func Reloading() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	usec := ts.Nano() / int64(time.Microsecond)
	return reloading + "\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10)
}
