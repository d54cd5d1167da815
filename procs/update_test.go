package procs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// Update: what an app does with a config that changes while it runs or starts.

// An update that arrives while the instance is starting with the old
// config is applied by a fresh instance.
func TestUpdateWhileStartingAppliesNewConfig(t *testing.T) {
	web, gate := gatedApp(t, "web")
	s, started := startAgainHeld(t, web, gate)

	changed := web
	changed.Environment = append(slices.Clone(web.Environment), "EXTRA=new")
	updated := make(chan error, 1)
	go func() { _, err := s.Update(context.Background(), testConfig(changed)); updated <- err }()
	testutil.Eventually(t, 5*time.Second, "the update to reach the app", func() bool {
		return viewOf(t, s, "web").queued > 0 // the reload waits for the start in flight
	})
	os.WriteFile(gate, nil, 0o644)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	if err := <-updated; err != nil {
		t.Fatal(err)
	}
	if got, err := get(noKeepAlive, "http://"+status(t, s, "web").External+"/env?k=EXTRA"); err != nil || got != "new" {
		t.Errorf("after an update during STARTING, EXTRA = %q, %v; want new", got, err)
	}
}

// While an update that changes only connect_timeout starts its new
// instance, every client is served by the old one, and a failed reload
// resets none of them.
func TestLimitsOnlyUpdateKeepsOldInstanceServing(t *testing.T) {
	hang := filepath.Join(t.TempDir(), "hang")
	app := testApp(t, "web", modeHTTP, envHangFile+"="+hang)
	app.StartTimeout, app.MaxRetries = 1500*time.Millisecond, 0
	s := startSupervisor(t, app)
	old := servingPID(t, s, "web")
	url := "http://" + status(t, s, "web").External + "/"

	os.WriteFile(hang, nil, 0o644)
	changed := app
	changed.ConnectTimeout = 4 * time.Second
	updated := make(chan error, 1)
	go func() {
		ch, err := s.Update(context.Background(), testConfig(changed))
		if err == nil && len(ch.Failed) == 1 && ch.Failed[0].App == "web" {
			err = errors.New(ch.Failed[0].Error)
		} else if err == nil {
			err = fmt.Errorf("changes %+v: want web listed as failed", ch)
		}
		updated <- err
	}()
	waitState(t, s, "web", AppReloading)

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, err := get(noKeepAlive, url)
			if err == nil && body != fmt.Sprint(old) {
				err = fmt.Errorf("served by pid %s", body)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("client during the update: %v; want the old instance (pid %d)", err, old)
		}
	}
	if err := <-updated; err == nil || !strings.Contains(err.Error(), "still serves") {
		t.Errorf("update = %v, want the reload to fail", err)
	}
	if pid, err := ask(t, s, "web"); err != nil || pid != old {
		t.Errorf("after the failed update: pid %d, %v; want %d", pid, err, old)
	}
}

// Limits changed by an update apply, on the same socket, once the
// new instance serves.
func TestLimitsOnlyUpdateAppliesOnTheSameSocket(t *testing.T) {
	app := testApp(t, "web", modeHTTP)
	s := startSupervisor(t, app)
	ext, old := status(t, s, "web").External, servingPID(t, s, "web")
	changed := app
	changed.MaxConnections = 1
	if _, err := s.Update(context.Background(), testConfig(changed)); err != nil {
		t.Fatal(err)
	}
	if st := status(t, s, "web"); st.External != ext || servingPID(t, s, "web") == old {
		t.Fatalf("after the update: %+v; want a new instance on %s", st, ext)
	}
	held, err := net.Dial("tcp", ext)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	keepAliveGet(t, held) // the one allowed connection is open
	if _, err := get(noKeepAlive, "http://"+ext+"/"); err == nil {
		t.Error("a second connection was served with max_connections 1")
	}
}

// After port_range changes, a port held by an instance that has not
// bound it yet is not handed out again.
func TestPortRangeChangeKeepsHeldPorts(t *testing.T) {
	p := testutil.FreePorts(t, 22500, 22900, 2)
	slow, _ := gatedApp(t, "slow")
	os.Remove(strings.TrimPrefix(slow.Environment[1], envGateFile+"="))
	cfg := testConfig(slow)
	cfg.PortRange.From, cfg.PortRange.To = p, p+1
	s := New(cfg, testLogger(t))
	s.d.timing = testTiming
	stopStart := startInBackground(t, s)
	testutil.Eventually(t, 10*time.Second, "STARTING", func() bool {
		st, err := s.Status("slow")
		return err == nil && st[0].State == AppStarting
	})
	stopStart() // Start returns; the app goes on starting

	next := testConfig(slow, testApp(t, "added", modeHTTP))
	next.PortRange.From, next.PortRange.To = p, p+2
	if _, err := s.Update(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	slowPort, addedPort := status(t, s, "slow").Instances[0].Port, status(t, s, "added").Instances[0].Port
	if slowPort != p || addedPort != p+1 {
		t.Errorf("ports: slow %d, added %d; want %d and %d", slowPort, addedPort, p, p+1)
	}
}

// An update whose ctx is canceled (a shutdown began) still stops
// removed apps gracefully: stop_signal, not an immediate SIGKILL.
func TestCanceledUpdateStopsRemovedAppsGracefully(t *testing.T) {
	keep, drop := testApp(t, "keep", modeHTTP), testApp(t, "drop", modeHTTP)
	s := startSupervisor(t, keep, drop)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Update(ctx, testConfig(keep)); err != nil {
		t.Fatal(err)
	}
	// "bye" is printed once the app's graceful shutdown is done.
	if out := readFile(t, drop.Stdout.Path); !strings.HasSuffix(out, "bye\n") {
		t.Errorf("removed app was not stopped gracefully; its stdout:\n%s", out)
	}
}
