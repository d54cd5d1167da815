package procs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// This file finds the cgroup hierarchies from /proc/self/mountinfo and
// /proc/self/cgroup, and lays out the daemon's subtree in them:
//
//	<v2 mount><daemon's cgroup>/gracevisor/<app>/<instance id>
//	<v1 mount of memory|pids|cpu><daemon's cgroup there>/gracevisor/<app>/<instance id>
//
// The unified (v2) hierarchy holds every instance: a process is cloned
// straight into its cgroup there (clone3 CLONE_INTO_CGROUP), and
// cgroup.kill ends all of it. Limits go where their controller is: in the
// v2 tree on a pure v2 host (Debian 12, Ubuntu 22.04+), in the v1
// hierarchies on a hybrid host (v2 mounted beside v1 controllers).
//
// Plain cgroupfs writes, not containerd/cgroups: what is needed is a dozen
// files (mkdir, cgroup.kill, cgroup.events, a few limit files), and the
// hybrid layout — kill through v2, limit through v1, for the same
// process — is a mix that library models as two separate managers.

// subtreeName is the daemon's subtree below its own cgroup; daemonLeaf is
// the leaf a daemon moves itself into on a pure v2 host so that
// controllers can be enabled for its subtree (no process may sit in a
// cgroup that hands controllers down).
const (
	subtreeName = "gracevisor"
	daemonLeaf  = "gracevisord"
)

// limitControllers are the controllers the per-app limits use.
var limitControllers = []string{"memory", "pids", "cpu"}

// cgroupMounts is where the hierarchies are, as mountinfo and
// /proc/self/cgroup tell it: the absolute directory of the daemon's own
// cgroup in each.
type cgroupMounts struct {
	unified     string            // the daemon's cgroup in the v2 hierarchy; "" if none
	unifiedRoot bool              // that cgroup is the hierarchy's root
	v1          map[string]string // controller → the daemon's cgroup in its v1 hierarchy
}

// mountPoint is one cgroup filesystem mount.
type mountPoint struct {
	dir, root string   // where it is mounted; which cgroup is its root
	v2        bool     // cgroup2
	ctrls     []string // v1: its controllers (and name=…)
}

// readCgroupMounts reads the live system's layout.
func readCgroupMounts() (cgroupMounts, error) {
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return cgroupMounts{}, err
	}
	defer mi.Close()
	self, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return cgroupMounts{}, err
	}
	defer self.Close()
	return parseCgroupMounts(mi, self)
}

// parseCgroupMounts combines mountinfo's cgroup mounts with the daemon's
// membership lines ("0::/path" for v2, "N:memory:/path" for v1).
func parseCgroupMounts(mountinfo, self io.Reader) (cgroupMounts, error) {
	mounts, err := parseMountinfo(mountinfo)
	if err != nil {
		return cgroupMounts{}, err
	}
	out := cgroupMounts{v1: map[string]string{}}
	sc := bufio.NewScanner(self)
	for sc.Scan() {
		id, rest, ok1 := strings.Cut(sc.Text(), ":")
		ctrls, p, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 {
			continue
		}
		if id == "0" && ctrls == "" {
			for _, m := range mounts {
				if dir, ok := m.join(p); ok && m.v2 {
					out.unified, out.unifiedRoot = dir, path.Clean(p) == "/"
					break
				}
			}
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			if !slices.Contains(limitControllers, c) {
				continue
			}
			for _, m := range mounts {
				if dir, ok := m.join(p); ok && !m.v2 && slices.Contains(m.ctrls, c) {
					out.v1[c] = dir
					break
				}
			}
		}
	}
	return out, sc.Err()
}

// join is the directory of cgroup p in this mount, if the mount shows it
// (in a container a mount may show only a part of the hierarchy).
func (m mountPoint) join(p string) (string, bool) {
	rel, err := filepath.Rel(m.root, path.Clean(p))
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return filepath.Join(m.dir, rel), true
}

// parseMountinfo lists the cgroup and cgroup2 mounts of a mountinfo file:
// "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS".
func parseMountinfo(r io.Reader) ([]mountPoint, error) {
	var out []mountPoint
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			continue
		}
		m := mountPoint{dir: unescapeMount(f[4]), root: unescapeMount(f[3])}
		switch g[0] {
		case "cgroup2":
			m.v2 = true
		case "cgroup":
			m.ctrls = strings.Split(g[2], ",")
		default:
			continue
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range []byte(s[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + c - '0'
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// errNoCgroup: no usable cgroup hierarchy.
var errNoCgroup = errors.New("no writable cgroup")
