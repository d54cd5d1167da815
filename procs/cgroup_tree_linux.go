package procs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// A cgroupTree is the daemon's subtree in each hierarchy (see
// cgroup_linux.go). Read-only after openCgroupTree; safe for concurrent use.
type cgroupTree struct {
	root    string            // <daemon's v2 cgroup>/gracevisor
	v2ctrls []string          // limit controllers enabled in the v2 subtree
	v1      map[string]string // controller → <daemon's v1 cgroup>/gracevisor
	hasKill bool              // cgroup.kill (Linux 5.14); else freeze + SIGKILL each
	notes   []string          // limits that cannot be applied, and why
}

// openCgroupTree creates the daemon's subtree and enables what limits
// need. errNoCgroup (wrapped) means instances cannot be put in cgroups.
func openCgroupTree(m cgroupMounts) (*cgroupTree, error) {
	if m.unified == "" {
		return nil, fmt.Errorf("%w: no cgroup2 (unified) hierarchy is mounted", errNoCgroup)
	}
	base, leaf := m.unified, false
	if filepath.Base(base) == daemonLeaf { // a predecessor moved itself (or us) there
		base, leaf = filepath.Dir(base), true
	}
	t := &cgroupTree{root: filepath.Join(base, subtreeName), v1: map[string]string{}}
	if err := mkdirCgroup(t.root); err != nil {
		return nil, fmt.Errorf("%w: %w", errNoCgroup, err)
	}
	if !exists(filepath.Join(t.root, "cgroup.procs")) {
		return nil, fmt.Errorf("%w: %s is not a cgroup", errNoCgroup, t.root)
	}
	t.hasKill = exists(filepath.Join(t.root, "cgroup.kill"))
	for _, c := range limitControllers {
		if dir, ok := m.v1[c]; ok {
			if err := mkdirCgroup(filepath.Join(dir, subtreeName)); err == nil {
				t.v1[c] = filepath.Join(dir, subtreeName)
			}
		}
	}
	want := t.missingControllers(base)
	if len(want) > 0 {
		if err := enableControllers(base, t.root, want, m.unifiedRoot || leaf); err != nil {
			t.notes = append(t.notes, fmt.Sprintf("cgroup controllers %s cannot be enabled (%v): their limits are not applied",
				strings.Join(want, ", "), err))
		} else {
			t.v2ctrls = want
		}
	}
	for _, c := range limitControllers {
		if !t.has(c) && !slices.ContainsFunc(t.notes, func(n string) bool { return strings.Contains(n, c) }) {
			t.notes = append(t.notes, fmt.Sprintf("no %s cgroup controller: its limits are not applied", c))
		}
	}
	return t, nil
}

// missingControllers are the limit controllers no v1 hierarchy gives that
// the v2 hierarchy offers at base.
func (t *cgroupTree) missingControllers(base string) []string {
	avail := strings.Fields(readString(filepath.Join(base, "cgroup.controllers")))
	var want []string
	for _, c := range limitControllers {
		if _, ok := t.v1[c]; !ok && slices.Contains(avail, c) {
			want = append(want, c)
		}
	}
	return want
}

// has reports whether controller c can limit an instance.
func (t *cgroupTree) has(c string) bool {
	_, ok := t.v1[c]
	return ok || slices.Contains(t.v2ctrls, c)
}

// enableControllers hands ctrls down from base to the subtree root. A
// cgroup that hands controllers down may hold no process, except the
// hierarchy's root: if base holds the daemon (systemd's Delegate=yes puts
// it there), the daemon first moves itself into base/gracevisord.
func enableControllers(base, root string, ctrls []string, baseFree bool) error {
	line := "+" + strings.Join(ctrls, " +")
	err := writeFile(filepath.Join(base, "cgroup.subtree_control"), line)
	if errors.Is(err, syscall.EBUSY) && !baseFree {
		leaf := filepath.Join(base, daemonLeaf)
		if err := mkdirCgroup(leaf); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(leaf, "cgroup.procs"), strconv.Itoa(os.Getpid())); err != nil {
			return fmt.Errorf("move gracevisord into %s: %w", leaf, err)
		}
		err = writeFile(filepath.Join(base, "cgroup.subtree_control"), line)
	}
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(root, "cgroup.subtree_control"), line)
}

// mkdirCgroup creates a cgroup directory; one that exists is fine.
func mkdirCgroup(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// writeFile writes one value to a cgroup control file.
func writeFile(p, v string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", v, p, err)
	}
	return nil
}

// readString reads a control file; "" if it cannot.
func readString(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

// readKey reads "key N" from a flat-keyed file (cgroup.events,
// memory.events, memory.oom_control); -1 if absent.
func readKey(p, key string) int64 {
	for _, line := range strings.Split(readString(p), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}

// readPids lists the pids in a cgroup.procs file.
func readPids(p string) []int {
	var pids []int
	for _, f := range strings.Fields(readString(p)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}
