// Package sdnotify implements systemd's notification protocol
// (sd_notify(3)) for a Type=notify service, on top of go-systemd: READY=1,
// RELOADING=1, STOPPING=1, and MAINPID= from a daemon that took over by an
// upgrade, sent as datagrams to $NOTIFY_SOCKET. Without NOTIFY_SOCKET it
// does nothing.
package sdnotify
