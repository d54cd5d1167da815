//go:build darwin || freebsd

package apiserver

import "golang.org/x/sys/unix"

// peerCred returns the uid of the process at the other end of the unix
// socket fd (LOCAL_PEERCRED); pid is 0: the BSDs' credentials carry none.
func peerCred(fd int) (uid, pid int, err error) {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return 0, 0, err
	}
	return int(cred.Uid), 0, nil
}
