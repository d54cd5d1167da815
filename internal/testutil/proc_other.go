//go:build unix && !linux

package testutil

import (
	"errors"
	"syscall"
)

// Alive reports whether process pid exists. Without /proc a zombie still
// counts as alive.
func Alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
