package procs

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// This file reads what process-group containment and the sweep need from
// /proc: a process's start time (which, with its pid, names it uniquely:
// a reused pid has a later start time), its process group, its
// environment marker and its memory.

// procStat is the part of /proc/PID/stat that names a process.
type procStat struct {
	pgid  int
	start uint64 // clock ticks after boot
}

// readStat reads /proc/PID/stat; ok is false when the process is gone (or
// a zombie: it holds nothing any more).
func readStat(pid int) (st procStat, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return st, false
	}
	// Fields after the parenthesised command name: state(3) ppid(4) pgrp(5) … starttime(22).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return st, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return st, false
	}
	st.pgid, _ = strconv.Atoi(f[2])
	st.start, _ = strconv.ParseUint(f[19], 10, 64)
	return st, true
}

// startTime is pid's start time; 0 if it is gone.
func startTime(pid int) uint64 {
	st, _ := readStat(pid)
	return st.start
}

// alive reports whether the process pid that started at start still runs.
func alive(pid int, start uint64) bool {
	st, ok := readStat(pid)
	return ok && st.start == start
}

// hasMarker reports whether pid's environment marks it as instance id's.
func hasMarker(pid int, id string) bool {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	want := []byte(instanceEnv + "=" + id)
	for _, kv := range bytes.Split(env, []byte{0}) {
		if bytes.Equal(kv, want) {
			return true
		}
	}
	return false
}

// allPids lists every process.
func allPids() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// rssOf sums the resident memory of pids, in bytes.
func rssOf(pids []int) int64 {
	page := int64(os.Getpagesize())
	var sum int64
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
		if f := strings.Fields(string(b)); err == nil && len(f) > 1 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			sum += n * page
		}
	}
	return sum
}

// A leftover is a process of an instance that must not outlive it: one in
// the instance's process group (pgid, whose leader started at start), or
// one that carries the instance's marker; either started at or after the
// instance did, so a reused pid or group id is never hit.
type leftover struct {
	id    string
	pgid  int
	start uint64
}

// members lists the processes of l that are alive.
func (l leftover) members() []int {
	leaderOK := true // a live leader with another start time: the group id was reused
	if st, ok := readStat(l.pgid); ok && st.start != l.start {
		leaderOK = false
	}
	var out []int
	for _, pid := range allPids() {
		st, ok := readStat(pid)
		if !ok || st.start < l.start || pid == os.Getpid() {
			continue
		}
		if st.pgid == l.pgid && leaderOK || hasMarker(pid, l.id) {
			out = append(out, pid)
		}
	}
	return out
}
