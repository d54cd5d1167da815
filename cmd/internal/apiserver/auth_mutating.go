package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/gracevisor/gracevisor/cmd/internal/reply"
	"io"
	"mime"
	"net/http"
	"time"
)

// maxBody bounds the JSON body of a state-changing request; it carries at
// most a number, so anything big is not ours.
const maxBody = 4 << 10

// mutating wraps a state-changing handler (registered for POST only). It
// accepts only Content-Type: application/json with a JSON object body that
// has no fields: a cross-site HTML form cannot send that content type, an
// <img> cannot POST, and a fetch() from another origin that sets it needs a
// CORS preflight we never answer. No endpoint takes programs or paths —
// those come only from the config on disk — so any field is refused
// (mutatingWith names the few an endpoint takes, such as scale's count).
// Every request that passes is logged with who made it, and its outcome;
// refusals go to the refusal log, at a bounded rate.
func (a *API) mutating(h http.HandlerFunc) http.HandlerFunc {
	return a.mutatingWith(h, func() any { return &struct{}{} })
}

// mutatingWith is mutating for an endpoint whose body may hold the fields
// of the struct params returns a pointer to; the handler reads the body
// again (it is kept) to decode them.
func (a *API) mutatingWith(h http.HandlerFunc, params func() any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, path := peerOf(r).who, clientStr(r.URL.Path)
		if code, msg := jsonBodyProblem(w, r, params()); code != 0 {
			reason := reasonBody
			if code == http.StatusUnsupportedMediaType {
				reason = reasonContentType
			}
			a.refusalLog().refuse(r, code, reason, msg)
			reply.Error(w, code, msg)
			return
		}
		a.Log.Info("api request", "method", r.Method, "path", path, "from", who)
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		start := time.Now()
		h(rec, r)
		a.Log.Info("api request done", "method", r.Method, "path", path, "from", who,
			"status", rec.code, "duration", time.Since(start).Round(time.Millisecond))
	}
}

// jsonBodyProblem checks that a request has a JSON object body with no
// fields but those of params (a pointer to a struct); it returns the status
// and message to refuse it with, or 0. It leaves the body in r for the
// handler.
func jsonBodyProblem(w http.ResponseWriter, r *http.Request, params any) (int, string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, "state-changing requests need Content-Type: application/json and a JSON body such as {}"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, "request body too large"
	case err != nil: // cut short: the client went away or sent less than it announced
		return http.StatusBadRequest, "could not read the request body: " + err.Error()
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return http.StatusBadRequest, "want a JSON object body such as {}"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(params); err != nil {
		why := " (programs come only from the config on disk)"
		if _, none := params.(*struct{}); none {
			why = " (this endpoint takes no parameters: programs come only from the config on disk)"
		}
		return http.StatusBadRequest, "bad JSON body: " + err.Error() + why
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return http.StatusBadRequest, "bad JSON body: trailing data after the object"
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return 0, ""
}

// statusRecorder remembers the status code a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
