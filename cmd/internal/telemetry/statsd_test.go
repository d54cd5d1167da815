package telemetry

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/l4proxy"
	"github.com/gracevisor/gracevisor/procs"
)

// TestStatsdLines: gauges as they are, counters as the increase since the
// previous push, the mean reload time of the interval as a timer.
func TestStatsdLines(t *testing.T) {
	prev := procs.AppMetrics{
		Status:        procs.AppStatus{Name: "api.v2", State: procs.AppRunning},
		Traffic:       l4proxy.Stats{Accepted: 10, BytesIn: 100},
		ReloadsOK:     1,
		ReloadSeconds: procs.Histogram{Count: 1, Sum: 0.5},
	}
	now := prev
	now.Status.State = procs.AppReloading
	now.Status.Instances = []procs.InstanceStatus{{State: procs.InstServing}, {State: procs.InstStarting}, {State: procs.InstDraining}}
	now.Traffic = l4proxy.Stats{Active: 3, Accepted: 15, BytesIn: 160, BytesOut: 7}
	now.ReloadsOK, now.ReloadSeconds = 3, procs.Histogram{Count: 3, Sum: 0.9}
	lines := statsdLines("gv", now, prev)
	for _, want := range []string{
		"gv.app.api_v2.state.RELOADING:1|g", "gv.app.api_v2.state.RUNNING:0|g",
		"gv.app.api_v2.instances.SERVING:1|g", "gv.app.api_v2.instances.EXITED:0|g",
		"gv.app.api_v2.connections.open:3|g", "gv.app.api_v2.connections.accepted:5|c",
		"gv.app.api_v2.bytes.in:60|c", "gv.app.api_v2.bytes.out:7|c", "gv.app.api_v2.reloads.ok:2|c",
		"gv.app.api_v2.reloads.failed:0|c", "gv.app.api_v2.reload_duration:200.000|ms",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("no %q in\n%s", want, strings.Join(lines, "\n"))
		}
	}
	// A reset (the app was removed and added again) sends the whole count.
	reset := statsdLines("", procs.AppMetrics{Status: procs.AppStatus{Name: "w"}, Traffic: l4proxy.Stats{Accepted: 2}}, now)
	if !slices.Contains(reset, "app.w.connections.accepted:2|c") || slices.ContainsFunc(reset, func(l string) bool { return strings.Contains(l, "|ms") }) {
		t.Errorf("after a reset:\n%s", strings.Join(reset, "\n"))
	}
}

// TestSendPacketsSplitsAtMTU: lines are never split and packets stay small.
func TestSendPacketsSplitsAtMTU(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	conn, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var lines []string
	for i := range 200 {
		lines = append(lines, strings.Repeat("x", 20)+".metric"+strings.Repeat("y", i%7)+":1|c")
	}
	if err := sendPackets(conn, lines); err != nil {
		t.Fatal(err)
	}
	var got []string
	buf := make([]byte, 65536)
	for len(got) < len(lines) {
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d lines: %v", len(got), err)
		}
		if n > statsdMaxPacket {
			t.Errorf("packet of %d bytes", n)
		}
		got = append(got, strings.Split(string(buf[:n]), "\n")...)
	}
	if !slices.Equal(got, lines) {
		t.Errorf("lines differ")
	}
}
