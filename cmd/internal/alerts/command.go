package alerts

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/procs"
)

// runAlertCommand runs the alerts command once for ev: argv split like an
// app's command (no shell), the event JSON on stdin, its fields in
// GRACEVISOR_* variables, in its own process group, which is killed when
// command_timeout passes or ctx ends. A non-zero exit is an error that
// carries the tail of the command's output.
func runAlertCommand(ctx context.Context, a config.Alerts, ev procs.Event, body []byte) error {
	argv, err := config.SplitCommand(a.Command)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, a.CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(append(body, '\n'))
	out := &tailBuffer{limit: alertOutputLimit}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), eventEnv(ev)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a grandchild holding the output pipe open does not hold us
	err = cmd.Run()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("%s: killed after command_timeout %s", argv[0], a.CommandTimeout)
	case err != nil && out.Len() > 0:
		return fmt.Errorf("%s: %w: %s", argv[0], err, strings.TrimSpace(out.String()))
	case err != nil:
		return fmt.Errorf("%s: %w", argv[0], err)
	}
	return nil
}

// eventEnv is the event as environment variables for the alerts command.
func eventEnv(ev procs.Event) []string {
	return []string{
		"GRACEVISOR_EVENT=" + string(ev.Kind),
		"GRACEVISOR_APP=" + ev.App,
		"GRACEVISOR_STATE=" + string(ev.State),
		"GRACEVISOR_TIME=" + ev.Time.Format(time.RFC3339Nano),
		"GRACEVISOR_SEQ=" + strconv.FormatUint(ev.Seq, 10),
		"GRACEVISOR_PID=" + strconv.Itoa(ev.PID),
		"GRACEVISOR_PORT=" + strconv.Itoa(ev.Port),
		"GRACEVISOR_ERROR=" + ev.Error,
	}
}

// tailBuffer keeps the last limit bytes written to it. Not safe for
// concurrent use; exec.Cmd writes stdout and stderr to one writer from one
// goroutine when both are the same writer.
type tailBuffer struct {
	limit int
	b     []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - t.limit; over > 0 {
		t.b = t.b[over:]
	}
	return len(p), nil
}

func (t *tailBuffer) Len() int       { return len(t.b) }
func (t *tailBuffer) String() string { return string(t.b) }
