//go:build !linux && !darwin && !freebsd

package apiserver

import "errors"

// peerCred is not available here: socket peers are logged as unknown.
func peerCred(fd int) (uid, pid int, err error) {
	return 0, 0, errors.New("peer credentials are not supported on this system")
}
