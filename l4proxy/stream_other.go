//go:build !linux || l4proxy_portable

package l4proxy

import "net"

// stream is Linux's splice copy; elsewhere, and with the l4proxy_portable
// build tag (which runs the tests on the portable path), every link uses
// copyBuffered.
type stream struct{}

func newStream(net.Conn, net.Conn, *writeGuard) (*stream, bool) { return nil, false }

func (*stream) run() (int64, error) { return 0, nil }
