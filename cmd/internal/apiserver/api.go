package apiserver

import (
	"context"
	"errors"
	"fmt"
	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/cmd/internal/reply"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/web"
	"github.com/gracevisor/gracevisor/procs"
)

// API serves the control API under /api/v1/, the status page and
// /metrics. It translates requests into daemon and supervisor calls, their
// results into api wire types and their errors into status codes. Safe for
// concurrent use once built.
type API struct {
	Sup *procs.Supervisor
	// Update applies the config files (POST /api/v1/update); its error
	// wraps ErrInvalidConfig when they do not load.
	Update func(ctx context.Context) (procs.Changes, error)
	// LogPath names the log file of an app's stream ("stdout", "stderr").
	LogPath func(app, stream string) (string, error)
	Log     *slog.Logger
	Version string

	// Base is the daemon's lifetime: it is cancelled when shutdown begins.
	// Operations run under it rather than under the request's context, so a
	// client that disconnects (Ctrl-C on a blocking reload) does not abort a
	// reload halfway; a daemon shutdown does. Log follows end with it too.
	Base context.Context

	// RequestShutdown asks main to shut down; Stopped is closed once every
	// app has stopped.
	RequestShutdown func()
	Stopped         <-chan struct{}

	// Security is the access policy (auth.go); nil allows what a loopback-only
	// API without a token allows.
	Security *Security

	// Metrics serves GET /metrics (Prometheus); nil = no such route.
	Metrics http.Handler

	// Refusals logs and counts refused requests; nil logs each one to log.
	Refusals *RefusalLog

	// Daemon says who the daemon is and what it does (GET /healthz,
	// GET /api/v1/version); its State may be nil (always serving).
	Daemon Identity
	// Upgrade replaces the daemon with a new one (POST /api/v1/upgrade),
	// passing each step to onEvent; nil = no such route.
	Upgrade func(onEvent func(api.UpgradeEvent)) (api.UpgradeResult, error)
}

// Identity is the daemon's side of GET /api/v1/version.
type Identity struct {
	BuildID   string
	StartedAt time.Time
	State     func() api.DaemonState
	// Containment is how the daemon holds instances (procs.Containment.Mode).
	Containment string
}

func (id Identity) state() api.DaemonState {
	if id.State == nil {
		return api.DaemonServing
	}
	return id.State()
}

// refusalLog returns where refusals go: a.Refusals, or one that logs
// every refusal to a.Log.
func (a *API) refusalLog() *RefusalLog {
	if a.Refusals != nil {
		return a.Refusals
	}
	return &RefusalLog{log: a.Log}
}

func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", a.handleStatus)
	mux.HandleFunc("GET /api/v1/apps", a.handleStatus)
	mux.HandleFunc("GET /api/v1/apps/{name}", a.handleAppStatus)
	mux.HandleFunc("POST /api/v1/apps/{name}/start", a.mutating(a.handleStart))
	mux.HandleFunc("POST /api/v1/apps/{name}/stop", a.mutating(a.handleStop))
	mux.HandleFunc("POST /api/v1/apps/{name}/restart", a.mutating(a.handleRestart))
	mux.HandleFunc("POST /api/v1/apps/{name}/reload", a.mutating(a.handleReload))
	mux.HandleFunc("POST /api/v1/apps/{name}/rollback", a.mutating(a.handleRollback))
	mux.HandleFunc("POST /api/v1/apps/{name}/scale", a.mutatingWith(a.handleScale, func() any { return &api.ScaleRequest{} }))
	mux.HandleFunc("GET /api/v1/apps/{name}/logs", a.handleLogs)
	mux.HandleFunc("POST /api/v1/update", a.mutating(a.handleUpdate))
	mux.HandleFunc("POST /api/v1/shutdown", a.mutating(a.handleShutdown))
	mux.HandleFunc("GET /api/v1/version", a.handleVersion)
	mux.HandleFunc("GET "+api.PathHealth, a.handleHealth)
	if a.Upgrade != nil {
		mux.HandleFunc("POST "+api.PathUpgrade, a.mutating(a.handleUpgrade))
	}
	if a.Metrics != nil {
		mux.Handle("GET /metrics", a.Metrics)
	}
	mux.HandleFunc("GET /{$}", web.Index)
	mux.HandleFunc("GET /static/{file}", web.Static)
	sec := a.Security
	if sec == nil {
		sec = &Security{}
	}
	refusals := a.refusalLog()
	return limitURI(sec.guard(jsonFallback(mux), refusals), refusals)
}

// writeOpError reports an error from the daemon or supervisor with the status
// code that fits it, and logs it: this is where such errors are finally handled.
func (a *API) writeOpError(w http.ResponseWriter, r *http.Request, err error) {
	if a.Base.Err() != nil && !errors.Is(err, errShuttingDown) && errors.Is(err, context.Canceled) {
		// The operation was cut short by the daemon's shutdown: say that, not "context canceled".
		err = fmt.Errorf("%w: %s was interrupted", errShuttingDown, clip(r.URL.Path))
	}
	code := errorStatus(err)
	body := api.ErrorReply{Error: err.Error()}
	if errors.Is(err, ErrInvalidConfig) {
		body = api.ErrorReply{Error: "invalid config", Problems: configProblems(err)}
	}
	if code >= 500 || code == http.StatusConflict || code == http.StatusUnprocessableEntity {
		a.Log.Error("api request failed", "method", r.Method, "path", clientStr(r.URL.Path), "err", err)
	}
	reply.JSON(w, code, body)
}

// ErrInvalidConfig is wrapped by Update when the config files do not load;
// nothing was changed. It is answered with 422 and one problem per line.
var ErrInvalidConfig = errors.New("invalid config")

// errorStatus maps an error to an HTTP status code.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, procs.ErrUnknownApp):
		return http.StatusNotFound
	case errors.Is(err, procs.ErrBadCount):
		return http.StatusBadRequest
	case errors.Is(err, ErrInvalidConfig):
		return http.StatusUnprocessableEntity
	case errors.Is(err, context.Canceled), errors.Is(err, errShuttingDown):
		return http.StatusServiceUnavailable
	default:
		return http.StatusConflict
	}
}

// errShuttingDown answers requests that arrive once shutdown has begun.
var errShuttingDown = errors.New("gracevisord is shutting down")

// configProblems splits a config load error into its problems: the loader
// reports one problem per line.
func configProblems(err error) []string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, ErrInvalidConfig.Error()+": ")
	var out []string
	for _, line := range strings.Split(msg, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// jsonFallback makes the mux's own 404 and 405 answers JSON like every other
// error, keeping the Allow header the mux sets for 405. Other answers of the
// mux (its redirects to a clean path) pass through unchanged.
func jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(&jsonErrorWriter{ResponseWriter: w}, r)
	})
}

// jsonErrorWriter replaces the plain-text body the mux writes for an
// unmatched request (404, 405) with a JSON error. The headers already set
// (by the guard: nosniff and the rest) stay.
type jsonErrorWriter struct {
	http.ResponseWriter
	wrote    bool // the status line went out
	replaced bool // the mux's body is dropped: the JSON error replaced it
}

func (w *jsonErrorWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	msg := "not found"
	if code == http.StatusMethodNotAllowed {
		msg = "method not allowed"
		if allow := w.Header().Get("Allow"); allow != "" {
			msg += " (allowed: " + allow + ")"
		}
	}
	reply.JSON(w.ResponseWriter, code, api.ErrorReply{Error: msg})
}

func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}
