package apiserver

import (
	"context"
	"github.com/gracevisor/gracevisor/cmd/internal/reply"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/logtail"
)

// logPoll is how often a followed log is checked for new data.
const logPoll = 200 * time.Millisecond

// logQuery is a parsed GET /api/v1/apps/{name}/logs request.
type logQuery struct {
	stream string // "stdout" or "stderr"
	n      int    // lines of tail; default 10
	follow bool
}

func parseLogQuery(r *http.Request) (logQuery, string) {
	q := r.URL.Query()
	lq := logQuery{stream: q.Get("stream"), n: 10}
	switch lq.stream {
	case "":
		lq.stream = "stdout"
	case "stdout", "stderr":
	default:
		return lq, "stream must be stdout or stderr"
	}
	if s := q.Get("n"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return lq, "n must be a whole number >= 0"
		}
		lq.n = n
	}
	if s := q.Get("follow"); s != "" {
		f, err := strconv.ParseBool(s)
		if err != nil {
			return lq, "follow must be 1, 0, true or false"
		}
		lq.follow = f
	}
	return lq, ""
}

// handleLogs serves GET /api/v1/apps/{name}/logs?stream=stdout|stderr&n=N
// [&follow=1]: the last n lines of the stream's log file as text/plain, then,
// with follow, everything appended, flushed as it arrives, until the client
// disconnects or the daemon shuts down. X-Log-Path names the file, so a
// client following both streams can tell when they share one file.
func (a *API) handleLogs(w http.ResponseWriter, r *http.Request) {
	lq, bad := parseLogQuery(r)
	if bad != "" {
		reply.Error(w, http.StatusBadRequest, bad)
		return
	}
	path, err := a.LogPath(r.PathValue("name"), lq.stream)
	if err != nil {
		a.writeOpError(w, r, err)
		return
	}
	file, err := logtail.Open(path, lq.n)
	if err != nil {
		a.Log.Error("logs request failed", "path", path, "err", err)
		reply.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Log-Path", path)
	w.WriteHeader(http.StatusOK)
	if !lq.follow {
		if file != nil {
			_, _ = io.Copy(w, file) // an error means the client went away
			file.Close()
		}
		return
	}
	a.followLog(w, r, path, file)
}

// followLog streams the log until the client leaves or the daemon shuts down.
func (a *API) followLog(w http.ResponseWriter, r *http.Request, path string, file *os.File) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(a.Base, cancel)
	defer stop()
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil { // headers now, so the client knows it is connected
		return
	}
	_ = logtail.Follow(ctx, path, file, w, rc.Flush, logPoll) // an error means the client went away
}
