package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Exit codes, as documented in docs/cli.md.
const (
	exitOK          = 0
	exitFailed      = 1 // the daemon could not do it (e.g. the new instance never became ready)
	exitUsage       = 2 // bad command line, or a request the daemon calls bad
	exitNotRunning  = 3 // status: some listed app is not RUNNING
	exitUnknownApp  = 4
	exitUnreachable = 5
)

// exitError is an error with the exit code it causes. A nil err means the
// problem was already reported (or needs no message, as for exit 3).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// withCode attaches an exit code to err.
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// errInterrupted is returned when Ctrl-C cancelled a request.
var errInterrupted = errors.New("interrupted")

// exitCode maps an error to the process exit code. Commands attach a code to
// every error they return (see command.op), so an error without one came from
// cobra's own parsing of the command line: a usage error.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return exitUsage
}

// report prints err on stderr, one "gracevisorctl: ..." line per line of its
// message, and returns the exit code.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var coded *exitError
	if !errors.As(err, &coded) {
		// cobra's own message, which may spread a suggestion over lines
		fmt.Fprintf(stderr, "gracevisorctl: %s\n", strings.Join(strings.Fields(err.Error()), " "))
		return exitUsage
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if line != "" {
			fmt.Fprintf(stderr, "gracevisorctl: %s\n", line)
		}
	}
	return exitCode(err)
}
