package alerts

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/procs"
)

// Alert dispatch limits.
const (
	alertQueueSize   = 256             // events waiting for delivery; more are dropped
	alertParallel    = 8               // deliveries running at once
	alertDrainGrace  = 3 * time.Second // at shutdown, time left for queued alerts
	alertOutputLimit = 2048            // bytes of a failing command's output kept for the log
)

// Alerter delivers app events to the alert hooks of the app's config. The
// supervisor calls notify on its app goroutines: notify never blocks; an
// event that finds the queue full is dropped and logged. A dispatcher
// goroutine (runAlerts) starts each delivery, up to alertParallel at once,
// so one slow hook delays others only once all slots are taken. Safe for
// concurrent use.
type Alerter struct {
	log       *slog.Logger
	userAgent string                         // of webhook requests
	alerts    func(app string) config.Alerts // the app's hooks in the running config
	queue     chan procs.Event
	results   *prometheus.CounterVec // by hook and outcome

	cancel context.CancelFunc // ends deliveries in flight (Stop)
	done   chan struct{}      // closed when runAlerts returns

	mu     sync.Mutex // guards closed and sends on queue
	closed bool
}

// Start returns an Alerter whose dispatcher runs until Stop. alerts
// returns an app's hooks in the running config; webhook requests carry
// userAgent.
func Start(log *slog.Logger, userAgent string, alerts func(app string) config.Alerts) *Alerter {
	al := newAlerter(log, userAgent, alerts)
	ctx, cancel := context.WithCancel(context.Background())
	al.cancel = cancel
	go runAlerts(ctx, al, al.done)
	return al
}

// Stop stops taking events and gives the queued ones alertDrainGrace to be
// delivered, then cancels the rest. Call it once every app has stopped, so
// the events of a shutdown still go out.
func (al *Alerter) Stop() {
	stopAlerts(al, al.cancel, al.done)
	al.cancel()
}

// Collector counts deliveries by hook and outcome, for GET /metrics.
func (al *Alerter) Collector() prometheus.Collector { return al.results }

func newAlerter(log *slog.Logger, userAgent string, alerts func(app string) config.Alerts) *Alerter {
	return &Alerter{
		log:       log,
		userAgent: userAgent,
		alerts:    alerts,
		done:      make(chan struct{}),
		queue:     make(chan procs.Event, alertQueueSize),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gracevisor_alerts_total",
			Help: "Alert deliveries by hook (command, webhook, none for a dropped event) and outcome (ok, failed, dropped).",
		}, []string{"hook", "outcome"}),
	}
}

// Notify queues ev for delivery, or drops it when the queue is full. It
// is the supervisor's event hook and returns at once.
func (al *Alerter) Notify(ev procs.Event) {
	al.mu.Lock()
	defer al.mu.Unlock()
	if al.closed {
		return
	}
	select {
	case al.queue <- ev:
	default:
		al.results.WithLabelValues("none", "dropped").Inc()
		al.log.Error("alert queue full; event dropped", "app", ev.App, "event", ev.Kind, "seq", ev.Seq)
	}
}

// close stops taking events; runAlerts then delivers what is queued.
func (al *Alerter) close() {
	al.mu.Lock()
	defer al.mu.Unlock()
	if !al.closed {
		al.closed = true
		close(al.queue)
	}
}

// runAlerts delivers queued events until the queue is closed and drained,
// then waits for deliveries in flight. Cancelling ctx ends them (a command
// is killed, a webhook request aborted).
func runAlerts(ctx context.Context, al *Alerter, done chan<- struct{}) {
	defer close(done)
	var wg sync.WaitGroup
	slots := make(chan struct{}, alertParallel)
	for ev := range al.queue {
		a := al.alerts(ev.App)
		if !a.Enabled() || !a.Fires(string(ev.Kind)) {
			continue
		}
		body, err := json.Marshal(ev)
		if err != nil { // an Event always marshals; keep the hooks safe anyway
			al.log.Error("alert: encode event", "err", err)
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			al.log.Warn("alert not delivered: gracevisord is stopping", "app", ev.App, "event", ev.Kind)
			continue
		}
		wg.Add(1)
		go deliverAlert(ctx, al, a, ev, body, slots, &wg)
	}
	wg.Wait()
}

// deliverAlert runs the event's hooks and frees its slot.
func deliverAlert(ctx context.Context, al *Alerter, a config.Alerts, ev procs.Event, body []byte, slots <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	defer func() { <-slots }()
	log := al.log.With("app", ev.App, "event", ev.Kind, "seq", ev.Seq)
	if a.Command != "" {
		al.record("command", runAlertCommand(ctx, a, ev, body), log)
	}
	if a.Webhook.URL != "" {
		al.record("webhook", postWebhook(ctx, a.Webhook, body, al.userAgent, log), log)
	}
}

// record counts a delivery and logs a failure: this is where it is handled.
func (al *Alerter) record(hook string, err error, log *slog.Logger) {
	if err != nil {
		al.results.WithLabelValues(hook, "failed").Inc()
		log.Error("alert "+hook+" failed", "err", err)
		return
	}
	al.results.WithLabelValues(hook, "ok").Inc()
}

// stopAlerts closes the queue and gives queued alerts alertDrainGrace to
// be delivered, then cancels the rest.
func stopAlerts(al *Alerter, cancel context.CancelFunc, done <-chan struct{}) {
	al.close()
	t := time.NewTimer(alertDrainGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		al.log.Warn("alert hooks still running at shutdown; stopping them")
		cancel()
		<-done
	}
}
