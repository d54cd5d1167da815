package alerts

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/procs"
)

var testEvent = procs.Event{
	Seq: 7, Kind: procs.EventCrash, App: "web", Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	State: procs.AppBackoff, PID: 4242, Port: 10001, Error: "pid 4242 exited: exit status 1", DurationMS: 1500,
}

func testAlerts(cmd string) config.Alerts {
	return config.Alerts{Events: config.AlertEvents, Command: cmd, CommandTimeout: 10 * time.Second}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func eventJSON(t *testing.T, ev procs.Event) []byte {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAlertCommandGetsTheEvent: JSON on stdin, fields in GRACEVISOR_*.
func TestAlertCommandGetsTheEvent(t *testing.T) {
	out := filepath.Join(t.TempDir(), "event")
	a := testAlerts(`sh -c 'cat > "$1"; env | grep ^GRACEVISOR_ | sort > "$1.env"' hook ` + out)
	if err := runAlertCommand(context.Background(), a, testEvent, eventJSON(t, testEvent)); err != nil {
		t.Fatal(err)
	}
	var got procs.Event
	if err := json.Unmarshal(readFile(t, out), &got); err != nil || got != testEvent {
		t.Errorf("stdin: %+v, %v; want %+v", got, err, testEvent)
	}
	env := string(readFile(t, out+".env"))
	for _, kv := range []string{"GRACEVISOR_EVENT=crash", "GRACEVISOR_APP=web", "GRACEVISOR_STATE=BACKOFF", "GRACEVISOR_PID=4242",
		"GRACEVISOR_PORT=10001", "GRACEVISOR_SEQ=7", "GRACEVISOR_TIME=2025-01-02T03:04:05Z", "GRACEVISOR_ERROR=pid 4242 exited: exit status 1"} {
		if !strings.Contains(env, kv+"\n") {
			t.Errorf("env lacks %s:\n%s", kv, env)
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAlertCommandFailures: a failing command's error carries its output;
// a hanging one is killed, with its process group, at command_timeout.
func TestAlertCommandFailures(t *testing.T) {
	body := eventJSON(t, testEvent)
	err := runAlertCommand(context.Background(), testAlerts(`sh -c 'echo no pager configured >&2; exit 3'`), testEvent, body)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "no pager configured") {
		t.Errorf("failing command: %v", err)
	}
	err = runAlertCommand(context.Background(), testAlerts("/no/such/notifier"), testEvent, body)
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing program: %v", err)
	}
	a := testAlerts(`sh -c 'sleep 30 & sleep 30'`) // a grandchild holds the output pipe
	a.CommandTimeout = 200 * time.Millisecond
	begin := time.Now()
	err = runAlertCommand(context.Background(), a, testEvent, body)
	if err == nil || !strings.Contains(err.Error(), "killed after command_timeout 200ms") || time.Since(begin) > 5*time.Second {
		t.Errorf("hanging command: %v after %s", err, time.Since(begin))
	}
}

// receiver is a local webhook endpoint answering with codes in turn (the
// last one repeats) and keeping every body.
type receiver struct {
	mu     sync.Mutex
	codes  []int
	bodies [][]byte
	delay  time.Duration
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	n := len(r.bodies)
	r.bodies = append(r.bodies, b)
	code := r.codes[min(n, len(r.codes)-1)]
	r.mu.Unlock()
	if req.Header.Get("Content-Type") != "application/json" || req.Method != http.MethodPost {
		code = http.StatusUnsupportedMediaType
	}
	select {
	case <-time.After(r.delay):
	case <-req.Context().Done():
		return
	}
	w.WriteHeader(code)
}

func (r *receiver) got() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies
}

func serveReceiver(t *testing.T, r *receiver) string {
	t.Helper()
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL + "/hook"
}

// TestWebhookRetries: 5xx is retried until 2xx; 4xx is final; a slow
// endpoint times out per try.
func TestWebhookRetries(t *testing.T) {
	body := eventJSON(t, testEvent)
	ctx := context.Background()

	flaky := &receiver{codes: []int{503, 200}}
	if err := postWebhook(ctx, config.Webhook{URL: serveReceiver(t, flaky), Timeout: 2 * time.Second, Retries: 3}, body, "gracevisord/test", discardLog()); err != nil {
		t.Errorf("flaky endpoint: %v", err)
	}
	if got := flaky.got(); len(got) != 2 || string(got[1]) != string(body) {
		t.Errorf("flaky endpoint got %d requests: %q", len(got), got)
	}

	rejecting := &receiver{codes: []int{400}}
	err := postWebhook(ctx, config.Webhook{URL: serveReceiver(t, rejecting), Timeout: 2 * time.Second, Retries: 3}, body, "gracevisord/test", discardLog())
	if err == nil || !strings.Contains(err.Error(), "400 Bad Request") || len(rejecting.got()) != 1 {
		t.Errorf("400: %v after %d requests; want one try", err, len(rejecting.got()))
	}

	down := &receiver{codes: []int{500}}
	err = postWebhook(ctx, config.Webhook{URL: serveReceiver(t, down), Timeout: 2 * time.Second, Retries: 1}, body, "gracevisord/test", discardLog())
	if err == nil || !strings.Contains(err.Error(), "500 Internal Server Error (2 tries)") {
		t.Errorf("500: %v", err)
	}

	slow := &receiver{codes: []int{200}, delay: 5 * time.Second}
	begin := time.Now()
	err = postWebhook(ctx, config.Webhook{URL: serveReceiver(t, slow), Timeout: 100 * time.Millisecond, Retries: 0}, body, "gracevisord/test", discardLog())
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") || time.Since(begin) > 3*time.Second {
		t.Errorf("slow endpoint: %v after %s", err, time.Since(begin))
	}
}

// TestAlerterNeverBlocks: with every delivery slot held by a hanging
// command, notify still returns at once, drops what does not fit, counts
// it; shutdown kills the hanging hooks after alertDrainGrace.
func TestAlerterNeverBlocks(t *testing.T) {
	a := testAlerts("sleep 60")
	al := newAlerter(discardLog(), "gracevisord/test", func(string) config.Alerts { return a })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go runAlerts(ctx, al, done)

	const n = alertQueueSize + alertParallel + 50
	begin := time.Now()
	for i := range n {
		ev := testEvent
		ev.Seq = uint64(i)
		al.Notify(ev)
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("%d notifies took %s", n, took)
	}
	dropped := counterValue(t, al.results.WithLabelValues("none", "dropped"))
	if dropped < 49 { // the queue, the slots, and one the dispatcher holds while it waits for a slot
		t.Errorf("dropped %v events, want at least 49", dropped)
	}
	begin = time.Now()
	stopAlerts(al, cancel, done)
	if took := time.Since(begin); took > alertDrainGrace+5*time.Second {
		t.Errorf("stopAlerts took %s", took)
	}
	if failed := counterValue(t, al.results.WithLabelValues("command", "failed")); failed < alertParallel {
		t.Errorf("%v killed commands counted as failed, want at least %d", failed, alertParallel)
	}
	al.Notify(testEvent) // after close: ignored, no panic
}

// TestAlerterFiltersEvents: only the app's events fire its hooks, and an
// app without hooks sends nothing.
func TestAlerterFiltersEvents(t *testing.T) {
	r := &receiver{codes: []int{200}}
	url := serveReceiver(t, r)
	al := newAlerter(discardLog(), "gracevisord/test", func(app string) config.Alerts {
		if app != "web" {
			return config.Alerts{Events: config.AlertEvents}
		}
		return config.Alerts{Events: []string{"fatal"}, Webhook: config.Webhook{URL: url, Timeout: 2 * time.Second}}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go runAlerts(ctx, al, done)
	for _, ev := range []procs.Event{
		{Seq: 1, Kind: procs.EventCrash, App: "web"},
		{Seq: 2, Kind: procs.EventFatal, App: "other"},
		{Seq: 3, Kind: procs.EventFatal, App: "web", State: procs.AppFatal},
	} {
		al.Notify(ev)
	}
	stopAlerts(al, cancel, done)
	got := r.got()
	if len(got) != 1 {
		t.Fatalf("webhook got %d events, want 1: %q", len(got), got)
	}
	var ev procs.Event
	if err := json.Unmarshal(got[0], &ev); err != nil || ev.Seq != 3 || ev.Kind != procs.EventFatal || ev.State != procs.AppFatal {
		t.Errorf("delivered %+v, %v", ev, err)
	}
	if ok := counterValue(t, al.results.WithLabelValues("webhook", "ok")); ok != 1 {
		t.Errorf("ok deliveries %v", ok)
	}
}

// counterValue reads a counter the way a scrape would.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
