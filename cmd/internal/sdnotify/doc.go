// Package sdnotify implements systemd's notification protocol
// (sd_notify(3)) for a Type=notify service: READY=1, RELOADING=1 and
// STOPPING=1 sent as datagrams to $NOTIFY_SOCKET. Without NOTIFY_SOCKET it
// does nothing.
package sdnotify
