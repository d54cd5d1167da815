package l4proxy

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// TestListenKeepAlive: connections accepted from Proxy.Listen carry the
// proxy's keepalive setting without any per-accept system call.
func TestListenKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keepAlive time.Duration
		wantOn    int
		wantIdle  int
	}{
		{"default", 0, 1, 15},
		{"custom", 1500 * time.Millisecond, 1, 2}, // rounded up to whole seconds
		{"off", -1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Proxy{KeepAlive: tc.keepAlive}
			ln, err := p.Listen(context.Background(), "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			testutil.Dial(t, ln.Addr().String())
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			on, idle := sockoptInt(t, c, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE), sockoptInt(t, c, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
			if on != tc.wantOn || (tc.wantOn == 1 && idle != tc.wantIdle) {
				t.Fatalf("accepted socket: keepalive %d idle %ds; want %d and %ds", on, idle, tc.wantOn, tc.wantIdle)
			}
		})
	}
}
