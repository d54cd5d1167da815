package procs

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"mvdan.cc/sh/v3/shell"
	"mvdan.cc/sh/v3/syntax"

	"github.com/gracevisor/gracevisor/config"
)

// portPlaceholder is replaced by the instance's internal port in the command
// and the environment.
const portPlaceholder = "{port}"

// buildCommand prepares (but does not start) the process of one instance of
// app listening on port: argv split with shell quoting rules but no shell,
// environment merged over gracevisord's own, working directory, process
// group, Pdeathsig and user.
func buildCommand(app *config.App, port int) (*exec.Cmd, error) {
	p := strconv.Itoa(port)
	argv, err := splitCommand(strings.ReplaceAll(app.Command, portPlaceholder, p))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = app.Directory
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	env := os.Environ()
	if app.User != "" {
		id, err := lookupUser(app.User)
		if err != nil {
			return nil, err
		}
		cmd.SysProcAttr.Credential = id.credential()
		env = append(env, id.env()...)
	}
	for _, kv := range app.Environment {
		env = append(env, strings.ReplaceAll(kv, portPlaceholder, p))
	}
	env = append(env, "GRACEVISOR_APP="+app.Name, "GRACEVISOR_PORT="+p)
	cmd.Env = dedupEnv(env)
	return cmd, nil
}

// splitCommand splits a command line into argv the way a shell would split
// words and remove quotes. No shell runs: variables, globs and command
// substitution are not supported, and using a variable is an error rather
// than a silent empty string.
func splitCommand(line string) ([]string, error) {
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

// dedupEnv keeps the last value of each key, in first-seen order, so later
// entries override earlier ones.
func dedupEnv(env []string) []string {
	index := make(map[string]int, len(env))
	out := make([]string, 0, len(env))
	for _, kv := range env {
		key, _, _ := strings.Cut(kv, "=")
		if i, ok := index[key]; ok {
			out[i] = kv
			continue
		}
		index[key] = len(out)
		out = append(out, kv)
	}
	return out
}
