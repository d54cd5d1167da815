package api

import "errors"

// gracevisorctl's exit codes, as docs/cli.md documents them. Every error the
// Client returns carries one (see Code).
const (
	ExitOK          = 0
	ExitFailed      = 1 // the daemon could not do it (e.g. the new instance never became ready)
	ExitUsage       = 2 // bad command line, or a request the daemon calls bad
	ExitNotRunning  = 3 // status: some listed app is not RUNNING
	ExitUnknownApp  = 4
	ExitUnreachable = 5
)

// ExitError is an error with the exit code it causes. A nil Err means the
// problem was already reported (or needs no message, as for exit 3).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// WithCode attaches an exit code to err.
func WithCode(code int, err error) error { return &ExitError{Code: code, Err: err} }

// ErrInterrupted is returned when the caller's context (Ctrl-C) ended a request.
var ErrInterrupted = errors.New("interrupted")

// Code is the exit code err carries, ExitOK for nil. An error without one
// (cobra's own parsing of the command line) is a usage error.
func Code(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitUsage
}

// exitForStatus is the exit code of an error answer's HTTP status; the
// daemon's status codes are chosen in cmd/internal/apiserver.
func exitForStatus(status int) int {
	switch status {
	case 404: // no such app
		return ExitUnknownApp
	case 400, 401, 403, 415: // a request the daemon calls bad, or refuses
		return ExitUsage
	}
	return ExitFailed
}
