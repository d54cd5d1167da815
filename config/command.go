package config

import (
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/shell"
	"mvdan.cc/sh/v3/syntax"
)

// SplitCommand splits a command line into argv the way a shell would split
// words and remove quotes ("two words", '…', a\ b). No shell runs:
// variables, command and process substitution, arithmetic and extended
// globs are errors rather than silently becoming something else. App
// commands and alert commands are split by it.
func SplitCommand(line string) (argv []string, err error) {
	if what := firstExpansion(line); what != "" {
		return nil, fmt.Errorf("parse command %q: %s: no shell runs the command (use sh -c '…' for shell features)", line, what)
	}
	defer func() {
		// A backstop: the parser has panicked on input it should reject.
		if r := recover(); r != nil {
			argv, err = nil, fmt.Errorf("parse command %q: unsupported shell syntax", line)
		}
	}()
	argv, err = shell.Fields(line, func(string) string { return "" })
	if err != nil {
		return nil, fmt.Errorf("parse command %q: %w", line, err)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("parse command %q: empty", line)
	}
	return argv, nil
}

// firstExpansion describes the first shell expansion the command line uses
// ("$X", "command substitution", …), or returns "" (also when it does not
// parse; shell.Fields reports that).
func firstExpansion(line string) string {
	var what string
	for w, err := range syntax.NewParser().WordsSeq(strings.NewReader(line)) {
		if err != nil {
			return ""
		}
		syntax.Walk(w, func(n syntax.Node) bool {
			if what == "" {
				what = expansion(n)
			}
			return what == ""
		})
	}
	return what
}

// expansion names what a shell would expand n into, or "" for plain words
// and quotes.
func expansion(n syntax.Node) string {
	switch n := n.(type) {
	case *syntax.ParamExp:
		if n.Param != nil {
			return "$" + n.Param.Value
		}
		return "parameter expansion"
	case *syntax.CmdSubst:
		return "command substitution"
	case *syntax.ProcSubst:
		return "process substitution"
	case *syntax.ArithmExp:
		return "arithmetic expansion"
	case *syntax.ExtGlob:
		return "extended glob"
	}
	return ""
}
