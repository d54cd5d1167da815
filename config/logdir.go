package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// logDir checks a written log_dir: the daemon must be able to create log
// files in it. The default is not checked here: it is where the daemon's
// own log goes, which start-up opens (exit 1 when it cannot), and checking
// it would fail every load by a user who may not write /var/log, such as
// gracevisorctl reading the rpc section.
func (v *validator) logDir(dir val[string]) {
	if !dir.Set || dir.Bad || dir.V == "" {
		return // nonEmpty reports an empty one
	}
	if msg := logDirProblem(v.abs(dir.V)); msg != "" {
		v.probs.add(dir.pos, "%s", msg)
	}
}

// logDirProblem says why no log file could be created in dir, or "" when
// one can. A dir that does not exist yet is created at the first write (by
// lumberjack for app logs, by the daemon for its own), so then the nearest
// existing parent must be a writable directory.
//
// The check has no side effects: stat, statfs and access(2), rather than
// creating and removing a probe file. Load runs for every gracevisorctl
// command and every update and SIGHUP; a probe file would touch the log
// folder each time (its mtime, inotify watchers such as log shippers, a
// stray file if we die in between). access(2) asks about the real uid,
// which is gracevisord's own user: it is never setuid.
func logDirProblem(dir string) string {
	at, fi, err := nearestExisting(dir)
	if err != nil {
		return fmt.Sprintf("cannot check %s: %s", at, reason(err))
	}
	why := dirProblem(at, fi)
	switch {
	case why == "":
		return ""
	case at != dir:
		return fmt.Sprintf("%s does not exist and cannot be created: %s is not a writable directory: %s", dir, at, why)
	}
	return fmt.Sprintf("%s is not a writable directory: %s", dir, why)
}

// nearestExisting returns path, or its nearest parent that exists, with its
// FileInfo (symlinks followed).
func nearestExisting(path string) (string, fs.FileInfo, error) {
	for {
		fi, err := os.Stat(path)
		missing := errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
		if !missing || path == filepath.Dir(path) {
			return path, fi, err
		}
		path = filepath.Dir(path)
	}
}

// dirProblem says why no file can be created in the existing path, or "".
// access(2) alone is not enough: root may "write" to /proc or /sys as far
// as access is concerned, and creating a file there still fails.
func dirProblem(path string, fi fs.FileInfo) string {
	if !fi.IsDir() {
		return "not a directory"
	}
	if fsName := kernelFS(path); fsName != "" {
		return "it is on " + fsName + ", a kernel file system where files cannot be created"
	}
	if err := unix.Access(path, unix.W_OK|unix.X_OK); err != nil {
		return err.Error()
	}
	return ""
}
