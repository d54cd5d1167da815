//go:build !linux

package l4proxy

import "net"

// progress is the bytes the direction still running has copied: without
// TCP_INFO, a stalled write to a peer that reads slowly shows no progress
// until it completes.
func (w *finWatch) progress() uint64 { return w.l.moved[w.dir].Load() }

// ackedBytes: this system does not tell (no TCP_INFO), so a write
// guard's deadline is final.
func ackedBytes(net.Conn) (uint64, bool) { return 0, false }
