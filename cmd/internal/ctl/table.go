package ctl

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// writeStatusTable prints one row per app (its first instance, the serving
// one of the lowest slot when there is one) and one extra row per further
// instance (serving in another slot, starting or draining), then the last error of every app that is not RUNNING, and of
// every app whose last reload was rolled back.
func writeStatusTable(w io.Writer, apps []api.AppStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tSLOT\tPID\tPORT\tEXTERNAL\tCONNS\tUPTIME\tRESTARTS")
	for _, a := range apps {
		slot, pid, port, conns, up := "-", "-", "-", "-", "-"
		if len(a.Instances) > 0 {
			slot, pid, port, conns, up = instanceCells(a.Instances[0], now)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", a.Name, a.State, slot, pid, port, a.External, conns, up, a.Restarts)
		for _, in := range a.Instances[min(1, len(a.Instances)):] {
			slot, pid, port, conns, up := instanceCells(in, now)
			fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t\t%s\t%s\t\n", in.State, slot, pid, port, conns, up)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, a := range apps {
		switch {
		case a.State != api.AppRunning && a.LastError != "":
			fmt.Fprintf(w, "%s: %s\n", a.Name, a.LastError)
		case a.LastReload == "rolled_back":
			fmt.Fprintf(w, "%s: last reload rolled back: %s\n", a.Name, a.LastError)
		}
	}
	return nil
}

func instanceCells(in api.InstanceStatus, now time.Time) (slot, pid, port, conns, uptime string) {
	uptime = "-"
	if !in.StartedAt.IsZero() {
		uptime = formatUptime(now.Sub(in.StartedAt))
	}
	return strconv.Itoa(in.Slot), strconv.Itoa(in.PID), strconv.Itoa(in.Port), strconv.FormatInt(in.Connections, 10), uptime
}

// formatUptime prints the two largest units: 42s, 5m02s, 3h04m, 2d03h.
func formatUptime(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 0:
		return "0s"
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	default:
		return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
	}
}
