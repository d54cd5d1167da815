package ctl

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

func TestFormatUptime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                   "0s",
		0:                              "0s",
		42 * time.Second:               "42s",
		5*time.Minute + 2*time.Second:  "5m02s",
		3*time.Hour + 4*time.Minute:    "3h04m",
		50*time.Hour + 59*time.Minute:  "2d02h",
		time.Hour - time.Nanosecond:    "59m59s",
		24*time.Hour - time.Nanosecond: "23h59m",
	} {
		if got := formatUptime(d); got != want {
			t.Errorf("formatUptime(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestStatusTable(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	apps := []api.AppStatus{
		{Name: "demo", State: api.AppRunning, External: "localhost:8080", Restarts: 2, Instances: []api.InstanceStatus{
			{PID: 4321, Port: 10001, State: api.InstServing, Connections: 3, StartedAt: now.Add(-90 * time.Second)},
			{Slot: 1, PID: 4322, Port: 10002, State: api.InstServing, Connections: 2, StartedAt: now.Add(-90 * time.Second)},
			{PID: 4000, Port: 10000, State: api.InstDraining, Connections: 1, StartedAt: now.Add(-2 * time.Hour)},
		}},
		{Name: "broken-app", State: api.AppFatal, External: "localhost:8081", LastError: "exited with status 1"},
	}
	var b bytes.Buffer
	if err := writeStatusTable(&b, apps, now); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"NAME        STATE     SLOT  PID   PORT   EXTERNAL        CONNS  UPTIME  RESTARTS",
		"demo        RUNNING   0     4321  10001  localhost:8080  3      1m30s   2",
		"            SERVING   1     4322  10002                  2      1m30s   ",
		"            DRAINING  0     4000  10000                  1      2h00m   ",
		"broken-app  FATAL     -     -     -      localhost:8081  -      -       0",
		"broken-app: exited with status 1",
		"",
	}, "\n")
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}
