package config

import (
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/shell"
	"mvdan.cc/sh/v3/syntax"
)

// SplitCommand splits a command line into argv the way a shell would split
// words and remove quotes ("two words", '…', a\ b). No shell runs:
// variables, globs and command substitution are not supported, and using a
// variable is an error rather than a silent empty string. App commands and
// alert commands are split by it.
func SplitCommand(line string) ([]string, error) {
	if name := firstParam(line); name != "" {
		return nil, fmt.Errorf("parse command %q: $%s: no shell runs the command (use sh -c '…' to expand variables)", line, name)
	}
	argv, err := shell.Fields(line, func(string) string { return "" })
	if err != nil {
		return nil, fmt.Errorf("parse command %q: %w", line, err)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("parse command %q: empty", line)
	}
	return argv, nil
}

// firstParam returns the first variable the command line expands ($X,
// ${X}), or "" (also when it does not parse; shell.Fields reports that).
func firstParam(line string) string {
	var name string
	for w, err := range syntax.NewParser().WordsSeq(strings.NewReader(line)) {
		if err != nil {
			return ""
		}
		syntax.Walk(w, func(n syntax.Node) bool {
			if pe, ok := n.(*syntax.ParamExp); ok && name == "" && pe.Param != nil {
				name = pe.Param.Value
			}
			return name == ""
		})
	}
	return name
}
