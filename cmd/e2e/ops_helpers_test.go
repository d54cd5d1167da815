package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
	"github.com/gracevisor/gracevisor/procs"
)

// spawnWith is env.spawn with extra environment variables for gracevisord.
func (e *env) spawnWith(extraEnv ...string) *daemon {
	return e.spawnDaemon([]string{"--log-stderr"}, extraEnv)
}

// writeConfigWith writes gracevisor.yaml with apps and extra top-level YAML.
func (e *env) writeConfigWith(extra string, apps ...app) {
	e.t.Helper()
	e.writeConfig(apps...)
	path := filepath.Join(e.dir, "gracevisor.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	e.writeFile("gracevisor.yaml", string(b)+extra)
}

// scrape fetches GET /metrics and returns each sample by its printed
// name{labels}.
func (e *env) scrape() map[string]float64 {
	e.t.Helper()
	resp, err := oneShot.Get("http://" + e.rpc + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		e.t.Fatalf("GET /metrics: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			e.t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// hookReceiver is a local webhook endpoint that keeps every event.
type hookReceiver struct {
	mu     sync.Mutex
	events []procs.Event
	url    string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev procs.Event
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.events = append(h.events, ev)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL + "/hook"
	return h
}

// kinds are the events received so far, in seq order.
func (h *hookReceiver) kinds() []procs.EventKind {
	h.mu.Lock()
	defer h.mu.Unlock()
	return kindsBySeq(h.events)
}

func kindsBySeq(evs []procs.Event) []procs.EventKind {
	evs = append([]procs.Event(nil), evs...)
	sort.Slice(evs, func(i, j int) bool { return evs[i].Seq < evs[j].Seq })
	var out []procs.EventKind
	for _, ev := range evs {
		out = append(out, ev.Kind)
	}
	return out
}

// eventsInFile reads the JSON events a command hook appended to path.
func eventsInFile(t *testing.T, path string) []procs.Event {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var evs []procs.Event
	dec := json.NewDecoder(strings.NewReader(string(b)))
	for {
		var ev procs.Event
		if err := dec.Decode(&ev); err == io.EOF {
			return evs
		} else if err != nil {
			t.Fatalf("%s: %v\n%s", path, err, b)
		}
		evs = append(evs, ev)
	}
}

// statsdReceiver collects the lines a local UDP statsd server receives.
type statsdReceiver struct {
	pc    net.PacketConn
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func newStatsdReceiver(t *testing.T) *statsdReceiver {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &statsdReceiver{pc: pc, done: make(chan struct{})}
	go receiveStatsd(r)
	t.Cleanup(func() { pc.Close(); <-r.done })
	return r
}

func receiveStatsd(r *statsdReceiver) {
	defer close(r.done)
	buf := make([]byte, 65536)
	for {
		n, _, err := r.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		r.mu.Lock()
		r.lines = append(r.lines, strings.Split(string(buf[:n]), "\n")...)
		r.mu.Unlock()
	}
}

// sum adds up the values of every "name:V|c" line received for name.
func (r *statsdReceiver) sum(name string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := 0.0
	for _, l := range r.lines {
		if v, ok := strings.CutPrefix(l, name+":"); ok && strings.HasSuffix(v, "|c") {
			f, _ := strconv.ParseFloat(strings.TrimSuffix(v, "|c"), 64)
			total += f
		}
	}
	return total
}

// last is the value of the last line received for name, with its type.
func (r *statsdReceiver) last(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.lines) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(r.lines[i], name+":"); ok {
			return v
		}
	}
	return ""
}

// waitGone waits until no process has marker in its command line.
func waitGone(t *testing.T, marker string, timeout time.Duration) {
	t.Helper()
	testutil.Eventually(t, timeout, "processes running "+marker+" to end", func() bool { return len(pidsWith(marker)) == 0 })
}

func pidsWith(marker string) []int {
	return pidsWhere(func(cmdline string) bool { return strings.Contains(cmdline, marker) })
}
