package procs

import (
	"errors"
	"time"
)

// This file is what the app loop does with what the kernel tells about an
// instance: the OOM killer ended it, or its memory stays above
// memory_reload. Every app method runs on appLoop.

// ReasonOOMKilled is AppStatus.Reason when the kernel's OOM killer ended
// the app's last instance that ended on its own (memory_max).
const ReasonOOMKilled = "oom-killed"

// noteExit records why an instance ended when the kernel ended it, before
// onExit handles the exit as a crash or failed start, under the usual
// restart policy. A serving or starting instance that ended otherwise
// clears the reason.
func (a *app) noteExit(in *instance) {
	if !errors.Is(in.exitErr, errOOMKilled) {
		if a.memberOf(in) != nil || a.attempt != nil && a.attempt.of(in) != nil {
			a.reason = ""
		}
		return
	}
	a.reason = ReasonOOMKilled
	a.counters.oomKills++
	a.logger.Warn("instance was killed by the kernel's OOM killer", "pid", in.pid,
		"memory_max_mb", in.cfg.Limits.MemoryMaxMB)
	a.emit(Event{Kind: EventOOMKilled, PID: in.pid, Port: in.port, Error: in.exitError().Error()})
}

// memoryChecks is how many checks in a row an instance's memory must be
// above memory_reload before it is reloaded.
const memoryChecks = 2

// watchMemory measures the serving instance's memory every
// healthcheck_interval and reports when it was above memory_reload
// memoryChecks times in a row; then it starts counting again. It ends
// when the instance exits or the app is aborted.
func watchMemory(a *app, in *instance) {
	defer a.wg.Done()
	limit := int64(in.cfg.Limits.MemoryReloadMB) << 20
	tick := time.NewTicker(max(in.cfg.HealthcheckInterval, a.d.timing.readyPoll))
	defer tick.Stop()
	above := 0
	for {
		select {
		case <-tick.C:
		case <-in.exited:
			return
		case <-a.abort.Done():
			return
		}
		used, ok := in.proc.memory()
		if !ok || used <= limit {
			above = 0
			continue
		}
		if above++; above >= memoryChecks {
			above = 0
			a.post(memoryHigh{in, used})
		}
	}
}

// startMemoryWatch starts watchMemory for a newly serving instance that
// has a memory_reload.
func (a *app) startMemoryWatch(m *member) {
	if m.in.cfg.Limits.MemoryReloadMB <= 0 {
		return
	}
	a.wg.Add(1)
	go watchMemory(a, m.in)
}

// onMemoryHigh reloads a serving instance hitlessly when it stayed above
// memory_reload (that instance only; the others serve on), at most once
// per start_timeout (a new instance that grows as fast would otherwise be
// replaced over and over).
func (a *app) onMemoryHigh(in *instance, used int64) {
	if a.memberOf(in) == nil || a.attempt != nil || !a.want {
		return
	}
	if gap := in.cfg.StartTimeout; !a.lastMemoryReload.IsZero() && time.Since(a.lastMemoryReload) < gap {
		return
	}
	a.lastMemoryReload = time.Now()
	a.counters.memoryReloads++
	a.logger.Warn("instance stays above memory_reload; reloading it", "pid", in.pid,
		"memory_mb", used>>20, "memory_reload_mb", in.cfg.Limits.MemoryReloadMB)
	a.beginSlots(true, nil, []int{in.slot})
	if a.attempt != nil {
		a.attempt.memory = true // no rollback window: the old instance's memory is what is wrong
	}
}
