package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// maxEventLine bounds one line of the upgrade stream.
const maxEventLine = 1 << 20

// Upgrade is POST /api/v1/upgrade: the daemon starts the binary at its
// path and hands it its listeners. It calls onEvent (when not nil) with
// every line of the answer as it arrives, the last one included, and
// returns:
//
//   - the result and nil after a StepDone line: the new daemon serves;
//   - an ExitFailed error "upgrade failed: DETAIL" after a StepFailed line:
//     nothing changed, the old daemon serves;
//   - an ExitFailed error with the daemon's message when it refused before
//     streaming (409 "upgrade already in progress", 503 while shutting
//     down), or when it does not know the endpoint (a daemon from before
//     upgrades);
//   - an ExitFailed error when the stream ends without StepDone or StepFailed
//     (the daemon answering went away), or ErrInterrupted when ctx ended
//     first (the daemon carries on);
//   - ExitUnreachable when the answer is not an upgrade stream, and the
//     errors of every request (unreachable, refused).
//
// There is no timeout: an upgrade lasts up to the longest start_timeout
// plus 30 s, and longer when the previous daemon must finish draining.
func (c *Client) Upgrade(ctx context.Context, onEvent func(UpgradeEvent)) (UpgradeResult, error) {
	resp, b, err := c.send(ctx, "POST", PathUpgrade, nil, "")
	if Code(err) == ExitUnknownApp {
		return UpgradeResult{}, WithCode(ExitFailed, fmt.Errorf("upgrade: %w (is gracevisord older than upgrades? stop and start it instead)", err))
	}
	if err != nil {
		return UpgradeResult{}, err
	}
	defer b.Close()
	sc := bufio.NewScanner(b)
	sc.Buffer(make([]byte, 0, 4<<10), maxEventLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev UpgradeEvent
		if err := json.Unmarshal(line, &ev); err != nil || ev.Step == "" {
			return UpgradeResult{}, c.notDaemon(resp.statusLine, fmt.Errorf("upgrade stream line %q", clipLine(string(line))))
		}
		if onEvent != nil {
			onEvent(ev)
		}
		switch {
		case ev.Step == StepDone && ev.Result != nil:
			return *ev.Result, nil
		case ev.Step == StepDone:
			return UpgradeResult{}, WithCode(ExitFailed, errors.New("upgrade done, but the daemon sent no result"))
		case ev.Step == StepFailed:
			return UpgradeResult{}, WithCode(ExitFailed, errors.New("upgrade failed: "+oneLine(ev.Detail)))
		}
	}
	if ctx.Err() != nil {
		return UpgradeResult{}, WithCode(ExitFailed, ErrInterrupted)
	}
	cause := "the connection closed"
	if err := sc.Err(); err != nil {
		cause = err.Error()
	}
	return UpgradeResult{}, WithCode(ExitFailed, fmt.Errorf("upgrade: the daemon's answer ended before the outcome (%s); `gracevisorctl version` shows which daemon serves", cause))
}

// oneLine joins a multi-line message into one line.
func oneLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	if len(lines) == 0 {
		return "(no detail)"
	}
	return strings.Join(lines, "; ")
}
