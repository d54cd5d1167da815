package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// report prints err on stderr, one "gracevisorctl: ..." line per line of its
// message, and returns the exit code (api.Code; see the exit codes there).
func report(stderr io.Writer, err error) int {
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
