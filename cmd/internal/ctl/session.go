package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// Session is one run of gracevisorctl. Set its fields before the first
// command; not safe for concurrent use.
type Session struct {
	Stdout, Stderr io.Writer
	// JSON prints replies as JSON (--json).
	JSON bool
	// Terminal says Stdout is a terminal: blocking commands print each step
	// as it happens. False prints one result at the end.
	Terminal bool
	// Client returns the client for the daemon the flags point at. Commands
	// call it when they run, so a usage error needs no config.
	Client func() (*api.Client, error)
}

// Report prints err on stderr, one "gracevisorctl: ..." line per line of its
// message, and returns the exit code (api.Code; see the exit codes there).
func Report(stderr io.Writer, err error) int {
	if err == nil {
		return api.ExitOK
	}
	var coded *api.ExitError
	if !errors.As(err, &coded) {
		// cobra's own message, which may spread a suggestion over lines
		fmt.Fprintf(stderr, "gracevisorctl: %s\n", strings.Join(strings.Fields(err.Error()), " "))
		return api.ExitUsage
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if line != "" {
			fmt.Fprintf(stderr, "gracevisorctl: %s\n", line)
		}
	}
	return api.Code(err)
}

// eachApp runs do for every app in order, reporting each failure on stderr
// as it happens. It stops early only when the daemon is unreachable or the
// user interrupted. The returned error carries the first failure's exit code
// and no message (it was reported).
func (s *Session) eachApp(opName string, names []string, do func(name string) error) error {
	first := api.ExitOK
	for _, name := range names {
		err := do(name)
		if err == nil {
			continue
		}
		if !strings.Contains(err.Error(), name) { // the daemon's messages name the app already
			err = fmt.Errorf("%s %s: %w", opName, name, err)
		}
		code := Report(s.Stderr, err)
		if first == api.ExitOK {
			first = code
		}
		if code == api.ExitUnreachable || errors.Is(err, api.ErrInterrupted) {
			break
		}
	}
	if first == api.ExitOK {
		return nil
	}
	return api.WithCode(first, nil)
}

// finishJSON prints the collected results with --json (also after partial
// failure, so scripts see what succeeded) and passes err on.
func (s *Session) finishJSON(results any, err error) error {
	if s.JSON {
		if perr := s.printJSON(results); perr != nil && err == nil {
			return perr
		}
	}
	return err
}

// printJSON writes v as indented JSON to stdout.
func (s *Session) printJSON(v any) error {
	enc := json.NewEncoder(s.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
