package procs

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// identity is the user an instance runs as.
type identity struct {
	name, home string
	uid, gid   uint32
	groups     []uint32
}

// lookupUser reads name's uid, primary gid, supplementary groups and home
// from the user database. It is looked up at every start, so edits to
// /etc/passwd and /etc/group apply to the next instance.
func lookupUser(name string) (*identity, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %s: non-numeric uid %q or gid %q", name, u.Uid, u.Gid)
	}
	id := &identity{name: u.Username, home: u.HomeDir, uid: uint32(uid), gid: uint32(gid)}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("user %s: groups: %w", name, err)
	}
	for _, g := range gids {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("user %s: non-numeric group id %q", name, g)
		}
		id.groups = append(id.groups, uint32(n))
	}
	return id, nil
}

// credential is what the child runs with; nil when it is gracevisord's own
// user, so a non-root daemon can name itself without needing setgroups.
func (id *identity) credential() *syscall.Credential {
	if int(id.uid) == os.Getuid() && int(id.gid) == os.Getgid() {
		return nil
	}
	return &syscall.Credential{Uid: id.uid, Gid: id.gid, Groups: id.groups}
}

// env is HOME, USER and LOGNAME for the user.
func (id *identity) env() []string {
	return []string{"HOME=" + id.home, "USER=" + id.name, "LOGNAME=" + id.name}
}
