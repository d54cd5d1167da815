package procs

import (
	"slices"

	"github.com/gracevisor/gracevisor/l4proxy"
)

// ReloadBuckets are the upper bounds, in seconds, of the reload duration
// histogram.
var ReloadBuckets = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// AppMetrics is a snapshot of one app's figures for monitoring. Counters
// count from the moment the app was added to the supervisor.
type AppMetrics struct {
	Status AppStatus
	// Traffic sums the proxy counters of every listener the app has had (an
	// update that changes the address or proxy options gives it a new one).
	Traffic l4proxy.Stats
	// Crashes counts exits of a serving instance.
	Crashes uint64
	// Restarts counts instances started to replace a crashed one or to
	// retry a failed start.
	Restarts uint64
	// ReloadsOK and ReloadsFailed count reloads by outcome: those asked for
	// (reload, update) and replacements of unhealthy instances.
	ReloadsOK, ReloadsFailed uint64
	// ReloadSeconds is the time from request to switch of successful reloads.
	ReloadSeconds Histogram
	// HealthcheckFailures counts failed health checks of serving instances;
	// Unhealthy counts the instances that were replaced because of them.
	HealthcheckFailures uint64
	Unhealthy           uint64
	// OOMKills counts instances the kernel's OOM killer ended (memory_max);
	// MemoryReloads counts reloads begun because an instance stayed above
	// memory_reload.
	OOMKills, MemoryReloads uint64
	// RolledBack counts reloads rolled back within rollback_window.
	RolledBack uint64
}

// Histogram is a cumulative histogram: Counts[i] observations were at most
// Bounds[i]. Bounds is shared and must not be modified.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

func newHistogram(bounds []float64) Histogram {
	return Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds))}
}

func (h *Histogram) observe(v float64) {
	for i, b := range h.Bounds {
		if v <= b {
			h.Counts[i]++
		}
	}
	h.Count++
	h.Sum += v
}

func (h Histogram) clone() Histogram {
	h.Counts = slices.Clone(h.Counts)
	return h
}

// counters are an app's event counts, owned by appLoop.
type counters struct {
	crashes, restarts, unhealthy uint64
	reloadsOK, reloadsFailed     uint64
	healthFailures               uint64
	oomKills, memoryReloads      uint64
	rolledBack                   uint64
	reloadSeconds                Histogram
}

// Metrics returns a snapshot of the named apps, or of all, in config order.
// An unknown name is an error wrapping ErrUnknownApp. Apps that do not run
// (before Start, or not bound) are reported STOPPED with zero counts.
func (s *Supervisor) Metrics(names ...string) ([]AppMetrics, error) {
	sts, err := s.Status(names...)
	if err != nil {
		return nil, err
	}
	out := make([]AppMetrics, 0, len(sts))
	for _, st := range sts {
		m := AppMetrics{Status: st, ReloadSeconds: newHistogram(ReloadBuckets)}
		if a, _ := s.appNamed(st.Name); a != nil { // as Status: still there during a shutdown
			if got, err := a.metrics(); err == nil {
				m = got
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// metrics is the app's counters as of the loop's last step (see app.view)
// with live connection counts and traffic. Safe to call from any goroutine.
func (a *app) metrics() (AppMetrics, error) {
	st, err := a.status()
	if err != nil {
		return AppMetrics{}, err
	}
	v := a.view.Load()
	m := v.metrics
	m.Status = st
	m.Traffic = v.traffic.total()
	return m, nil
}

// snapshot is the counters as metrics; it runs on appLoop.
func (c *counters) snapshot() AppMetrics {
	return AppMetrics{
		Crashes:             c.crashes,
		Restarts:            c.restarts,
		ReloadsOK:           c.reloadsOK,
		ReloadsFailed:       c.reloadsFailed,
		ReloadSeconds:       c.reloadSeconds.clone(),
		HealthcheckFailures: c.healthFailures,
		Unhealthy:           c.unhealthy,
		OOMKills:            c.oomKills,
		MemoryReloads:       c.memoryReloads,
		RolledBack:          c.rolledBack,
	}
}

// traffic sums the proxy counters of an app's fronts: those still open
// are read live, those closed were folded into done. The loop owns it; a
// copy in each status snapshot serves readers (see app.metrics).
type traffic struct {
	done l4proxy.Stats
	open []*front
}

// closed folds the final counts of f, whose proxy has shut down, into done.
func (t *traffic) closed(f *front) {
	i := slices.Index(t.open, f)
	if i < 0 {
		return
	}
	t.open = slices.Delete(t.open, i, i+1)
	addStats(&t.done, f.proxy.Stats())
	t.done.Active = 0
}

// clone is a copy for a snapshot.
func (t *traffic) clone() traffic {
	return traffic{done: t.done, open: slices.Clone(t.open)}
}

// total reads the open fronts' live counters; safe on a snapshot's copy.
func (t *traffic) total() l4proxy.Stats {
	sum := t.done
	for _, f := range t.open {
		addStats(&sum, f.proxy.Stats())
	}
	return sum
}

func addStats(sum *l4proxy.Stats, s l4proxy.Stats) {
	sum.Active += s.Active
	sum.Accepted += s.Accepted
	sum.Failed += s.Failed
	sum.Waited += s.Waited
	sum.BytesIn += s.BytesIn
	sum.BytesOut += s.BytesOut
	sum.AcceptErrors += s.AcceptErrors
	sum.ProxyHeaderRejected += s.ProxyHeaderRejected
}

// retireFront closes a front (see closeFront) once the instances it
// served (until) have exited, and then reports it, so the loop folds its
// counts into the app's totals.
func retireFront(a *app, f *front, until []*instance) {
	defer a.wg.Done()
	f.closeListener()
	for _, in := range until {
		select {
		case <-in.exited:
		case <-a.abort.Done():
		}
	}
	closeFront(a.abort, f, closedChan, nil)
	a.post(frontClosed{f})
}
