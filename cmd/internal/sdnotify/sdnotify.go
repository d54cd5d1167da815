package sdnotify

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// systemd's notification protocol (sd_notify(3)): datagrams of
// newline-separated VAR=value assignments sent to $NOTIFY_SOCKET.
const (
	Ready     = daemon.SdNotifyReady
	Stopping  = daemon.SdNotifyStopping
	reloading = daemon.SdNotifyReloading
)

// Notifier sends state changes to systemd when gracevisord runs as a
// Type=notify service; without NOTIFY_SOCKET it does nothing. Safe for
// concurrent use.
//
// NOTIFY_SOCKET stays in gracevisord's environment, so that a successor
// started by an upgrade (which inherits it) can tell systemd its pid; procs
// keeps it out of the apps' environment.
type Notifier struct{}

// New returns a Notifier for $NOTIFY_SOCKET.
func New() *Notifier { return &Notifier{} }

// Notify sends the assignments in one datagram; a no-op without systemd.
func (n *Notifier) Notify(state string) error {
	if _, err := daemon.SdNotify(false, state); err != nil {
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

// ReadyAsMain tells systemd this process is the service's main process
// now, and ready: what a daemon started by an upgrade sends.
func ReadyAsMain() string {
	return "MAINPID=" + strconv.Itoa(os.Getpid()) + "\n" + Ready
}
