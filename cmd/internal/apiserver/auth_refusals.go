package apiserver

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// Refused requests cost their sender almost nothing, so they must cost the
// daemon little too: a client that sends thousands of requests without a
// token, or with megabyte paths, must not be able to fill the disk with
// the daemon's log.

const (
	// maxClientString bounds each client-supplied value in a log line or
	// an error message.
	maxClientString = 200
	// refusalInterval is how often a line is logged per source and reason
	// at most.
	refusalInterval = 10 * time.Second
	// maxRefusalSources bounds the table of sources and reasons; once it is
	// full, new sources share overflowSource until their windows end.
	maxRefusalSources = 1024
	overflowSource    = "other"
)

// The reasons of gracevisor_api_refused_total: a fixed list, so that the
// metric's cardinality does not depend on what clients send.
const (
	reasonURITooLong  = "uri_too_long"
	reasonHost        = "host"
	reasonOrigin      = "origin"
	reasonNoToken     = "missing_token"
	reasonWrongToken  = "wrong_token"
	reasonContentType = "content_type"
	reasonBody        = "body"
)

var refusalReasons = []string{reasonURITooLong, reasonHost, reasonOrigin, reasonNoToken, reasonWrongToken, reasonContentType, reasonBody}

// clientStr is a value a client sent (a path, a method, a message quoting
// a Host header …), as a log attribute: cut to maxClientString bytes. The
// log handler quotes and escapes it whenever it holds anything but plain
// printable characters — a cut one always, since the cut mark has a space —
// so a client can neither forge a line nor make one long.
type clientStr string

// LogValue implements slog.LogValuer.
func (s clientStr) LogValue() slog.Value { return slog.StringValue(clip(string(s))) }

// clip cuts s to maxClientString bytes, at a character boundary, and says
// how long it was.
func clip(s string) string {
	if len(s) <= maxClientString {
		return s
	}
	i := maxClientString
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// quote quotes a client-supplied value inside a message: escaped (no
// forged log lines) and bounded.
func quote(s string) string { return strconv.Quote(clip(s)) }

// RefusalLog logs refused API requests at a bounded rate: the first
// refusal from a source (a TCP client's IP address, a socket peer's uid)
// for a reason (missing token, wrong token …) in each interval is logged in
// full; the others are only counted, and one line gives their number when
// the interval is over. Keeping reasons apart costs at most
// len(refusalReasons) lines per source and interval, and a flood of one
// kind does not hide the first refusal of another. Every refusal is
// counted in gracevisor_api_refused_total by reason.
//
// The zero value logs every refusal (to log; nil logs nothing) and counts
// none. Safe for concurrent use.
type RefusalLog struct {
	log        *slog.Logger
	interval   time.Duration          // one line per source and reason per interval; 0 = every refusal
	maxSources int                    // windows open at once, then overflowSource
	refused    *prometheus.CounterVec // by reason; nil = not counted
	now        func() time.Time       // the clock; tests use their own

	mu      sync.Mutex
	windows map[refusalKey]*refusalWindow
	timer   *time.Timer // ends windows; nil while none is open
	closed  bool
}

type refusalKey struct{ source, reason string }

// refusalWindow is one source's current interval for one reason.
type refusalWindow struct {
	start      time.Time
	suppressed int // refusals not logged since start
}

// NewRefusalLog is the daemon's refusal log: one line per source per
// refusalInterval. Call Close when the API has stopped.
func NewRefusalLog(log *slog.Logger) *RefusalLog {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gracevisor_api_refused_total",
		Help: "Control API requests refused before reaching their handler, by reason.",
	}, []string{"reason"})
	for _, r := range refusalReasons {
		c.WithLabelValues(r) // every reason reads 0 rather than missing
	}
	return &RefusalLog{log: log, interval: refusalInterval, maxSources: maxRefusalSources, refused: c, now: time.Now,
		windows: map[refusalKey]*refusalWindow{}}
}

// refuse counts a refused request and logs it unless its source was
// logged less than an interval ago. msg may quote client values.
func (l *RefusalLog) refuse(r *http.Request, code int, reason, msg string) {
	if l.refused != nil {
		l.refused.WithLabelValues(reason).Inc()
	}
	p := peerOf(r)
	if l.log == nil || !l.admit(refusalKey{p.source, reason}) {
		return
	}
	l.log.Warn("api request refused", "method", clientStr(r.Method), "path", clientStr(r.URL.Path),
		"from", p.who, "status", code, "reason", clientStr(msg))
}

// admit reports whether a refusal is logged: the first of its source and
// reason in an interval is; the rest are counted for the line that ends
// the interval.
func (l *RefusalLog) admit(k refusalKey) bool {
	if l.interval <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return true
	}
	now := l.now()
	w := l.windows[k]
	if w == nil && len(l.windows) >= l.maxSources {
		k.source = overflowSource
		w = l.windows[k]
	}
	switch {
	case w == nil:
		l.windows[k] = &refusalWindow{start: now}
		l.armLocked()
		return true
	case now.Sub(w.start) >= l.interval:
		l.reportLocked(k, w)
		*w = refusalWindow{start: now}
		return true
	}
	w.suppressed++
	return false
}

// sweep ends the windows whose interval is over: their counts are logged
// and they leave the table. The timer calls it every interval while the
// table is not empty.
func (l *RefusalLog) sweep() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = nil
	if l.closed {
		return
	}
	now := l.now()
	for k, w := range l.windows {
		if now.Sub(w.start) >= l.interval {
			l.reportLocked(k, w)
			delete(l.windows, k)
		}
	}
	l.armLocked()
}

func (l *RefusalLog) armLocked() {
	if l.timer == nil && len(l.windows) > 0 {
		l.timer = time.AfterFunc(l.interval, l.sweep)
	}
}

// reportLocked logs how many refusals of a window were not logged, if any.
func (l *RefusalLog) reportLocked(k refusalKey, w *refusalWindow) {
	if w.suppressed > 0 {
		l.log.Warn("api requests refused, not logged one by one", "from", k.source, "reason", k.reason,
			"count", w.suppressed, "since", w.start.Format(time.RFC3339))
	}
}

// Close logs the counts of the open windows and stops the timer; later
// refusals are logged one by one. Call it once the API has stopped.
func (l *RefusalLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.closed = true
	for k, w := range l.windows {
		l.reportLocked(k, w)
		delete(l.windows, k)
	}
}

// Collector is gracevisor_api_refused_total, for GET /metrics.
func (l *RefusalLog) Collector() prometheus.Collector { return l.refused }
