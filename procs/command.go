package procs

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/gracevisor/gracevisor/config"
)

// portPlaceholder is replaced by the instance's internal port in the command
// and the environment.
const portPlaceholder = "{port}"

// instancePlaceholder is replaced by the instance's slot (0…instances-1)
// in the command, the environment and templates: what an app needs to
// tell its instances apart (a log name, a shard, a metrics label).
const instancePlaceholder = "{instance}"

// buildCommand prepares (but does not start) the process of one instance of
// app listening on port: argv split with shell quoting rules but no shell,
// environment merged over gracevisord's own, working directory, process
// group, Pdeathsig (where the platform has it) and user; {port} and
// {instance} are replaced in the command and environment. It renders the
// app's templates for port and slot first (template.go).
func buildCommand(app *config.App, port, slot int) (*exec.Cmd, error) {
	p := strconv.Itoa(port)
	r := strings.NewReplacer(portPlaceholder, p, instancePlaceholder, strconv.Itoa(slot))
	argv, err := splitCommand(r.Replace(app.Command))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = app.Directory
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(cmd.SysProcAttr)

	env := daemonEnviron()
	if app.User != "" {
		id, err := lookupUser(app.User)
		if err != nil {
			return nil, err
		}
		cmd.SysProcAttr.Credential = id.credential()
		env = append(env, id.env()...)
	}
	for _, kv := range app.Environment {
		env = append(env, r.Replace(kv))
	}
	env = append(env, "GRACEVISOR_APP="+app.Name, "GRACEVISOR_PORT="+p)
	cmd.Env = dedupEnv(env)
	if err := renderTemplates(app, p, slot, cmd.SysProcAttr.Credential); err != nil {
		return nil, err
	}
	return cmd, nil
}

// splitCommand splits a command line into argv by shell rules, with no
// shell (see config.SplitCommand).
func splitCommand(line string) ([]string, error) { return config.SplitCommand(line) }

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

// daemonEnviron is gracevisord's environment without what is meant for
// gracevisord alone: systemd's NOTIFY_SOCKET (an app must not speak for
// the service, which allows any of its processes to notify so that a new
// daemon can take over) and tableflip's upgrade marker.
func daemonEnviron() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "NOTIFY_SOCKET=") || strings.HasPrefix(kv, "TABLEFLIP_HAS_PARENT_")
	})
}
