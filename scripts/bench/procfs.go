//go:build linux

package main

import (
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, which is 100 on every Linux this runs on.
const clockTicks = 100

// cpuSeconds is the user+system CPU time of pids (all their threads), in seconds.
func cpuSeconds(pids []int) float64 {
	var ticks int64
	for _, pid := range pids {
		f := statFields(pid)
		if len(f) < 14 { // f[0] is "pid (comm)", so proc(5)'s field N is f[N-2]
			continue
		}
		u, _ := strconv.ParseInt(f[12], 10, 64) // utime
		s, _ := strconv.ParseInt(f[13], 10, 64) // stime
		ticks += u + s
	}
	return float64(ticks) / clockTicks
}

// statFields splits /proc/PID/stat, whose second field (comm) may hold spaces.
func statFields(pid int) []string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return append([]string{s[:i+1]}, strings.Fields(s[i+1:])...)
}

func childrenOf(ppid int) []int {
	entries, _ := os.ReadDir("/proc")
	var kids []int
	want := strconv.Itoa(ppid)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(pid); len(f) > 3 && f[2] == want {
			kids = append(kids, pid)
		}
	}
	return kids
}

// rssKB is the summed VmRSS of pids in kB.
func rssKB(pids []int) int64 {
	var total int64
	for _, pid := range pids {
		data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				total += kb
			}
		}
	}
	return total
}

// fdCount is the number of open file descriptors of pids.
func fdCount(pids []int) int {
	n := 0
	for _, pid := range pids {
		entries, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
		n += len(entries)
	}
	return n
}

// socketCount is the number of open sockets of pids.
func socketCount(pids []int) int {
	n := 0
	for _, pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if target, err := os.Readlink(dir + e.Name()); err == nil && strings.HasPrefix(target, "socket:") {
				n++
			}
		}
	}
	return n
}

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
