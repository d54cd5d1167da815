package procs

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// Operations on an app while an Update adds or removes it (issue 18, item 7).

// holdUpdate starts web (a gatedApp), closes its gate, and runs an Update
// in the background that changes web and adds the apps in added. The
// Update stays in its reload of web, before it binds the added apps, until
// the returned open is called; open then waits for the Update's result.
func holdUpdate(t *testing.T, added ...string) (s *Supervisor, open func() error) {
	t.Helper()
	web, gate := gatedApp(t, "web")
	s = startSupervisor(t, web)
	os.Remove(gate)
	changed := web
	changed.Environment = append(slices.Clone(web.Environment), "EXTRA=new")
	next := testConfig(changed)
	for _, name := range added {
		next.Apps = append(next.Apps, testApp(t, name, modeHTTP))
	}
	updated := make(chan error, 1)
	go func() { _, err := s.Update(context.Background(), next); updated <- err }()
	testutil.Eventually(t, 5*time.Second, "the update to reload web", func() bool {
		return status(t, s, "web").State == AppReloading
	})
	return s, func() error {
		os.WriteFile(gate, nil, 0o644)
		return <-updated
	}
}

// An operation on an app that an Update is still adding waits for the app
// instead of failing, bounded by its context; status shows the app at once.
func TestOperationWaitsForAppBeingAdded(t *testing.T) {
	s, open := holdUpdate(t, "added")

	st, err := s.Status("added")
	if err != nil || len(st) != 1 || st[0].State != AppStopped {
		t.Fatalf("status of an app being added = %+v, %v; want it STOPPED until it is bound", st, err)
	}
	if all, _ := s.Status(); len(all) != 2 || all[1].Name != "added" {
		t.Errorf("status of all during the update = %+v; want web, then added", all)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Do(ended, OpStart, "added")
	if !errors.Is(err, ErrBeingAdded) || !errors.Is(err, context.Canceled) {
		t.Errorf("start with an ended context while the app is being added: %v; want ErrBeingAdded", err)
	}

	type reply struct {
		res OpResult
		err error
	}
	started := make(chan reply, 1)
	go func() { res, err := s.Do(context.Background(), OpStart, "added"); started <- reply{res, err} }()
	testutil.Eventually(t, 5*time.Second, "start to wait for the app", func() bool {
		return countGoroutines("procs.(*Supervisor).await") > 0
	})
	select {
	case r := <-started:
		t.Fatalf("start returned while the update had not bound the app: %+v", r)
	default:
	}

	if err := open(); err != nil {
		t.Fatalf("update: %v", err)
	}
	r := <-started
	if r.err != nil {
		t.Fatalf("start of an app being added: %v; want it to wait and succeed", r.err)
	}
	if pid := servingPID(t, s, "added"); r.res.State != AppRunning || r.res.PID != pid || pid == 0 {
		t.Errorf("start result %+v; want RUNNING with the serving pid %d", r.res, pid)
	}
}

// An operation on an app that an Update is removing says so, as an
// unknown app (the new config has none), not "supervisor is not running".
func TestOperationOnAppBeingRemoved(t *testing.T) {
	drop := testApp(t, "drop", modeHTTP, envIgnoreTerm+"=1") // stops only at stop_timeout
	drop.StopTimeout = 2 * time.Second
	keep := testApp(t, "keep", modeHTTP)
	s := startSupervisor(t, keep, drop)
	updated := make(chan error, 1)
	go func() { _, err := s.Update(context.Background(), testConfig(keep)); updated <- err }()

	var err error
	testutil.Eventually(t, 5*time.Second, "the update to remove drop", func() bool {
		err = s.StartApp(context.Background(), "drop") // a no-op while drop still runs
		return err != nil
	})
	if !errors.Is(err, ErrUnknownApp) || !strings.Contains(err.Error(), "an update is removing it") {
		t.Errorf("start of an app being removed: %v; want unknown app, being removed", err)
	}
	if err := <-updated; err != nil {
		t.Fatal(err)
	}
}

// Do reports what the operation produced, whatever happens to the app after.
func TestDoReportsItsOwnOutcome(t *testing.T) {
	s := startSupervisor(t, testApp(t, "web", modeHTTP))
	ctx := context.Background()
	started, err := s.Do(ctx, OpRestart, "web")
	if err != nil {
		t.Fatal(err)
	}
	pid := servingPID(t, s, "web")
	stopped, err := s.Do(ctx, OpStop, "web")
	if err != nil {
		t.Fatal(err)
	}
	if want := (OpResult{App: "web", State: AppRunning, PID: pid, Port: started.Port}); started != want || pid == 0 || started.Port == 0 {
		t.Errorf("restart result %+v, want %+v", started, want)
	}
	if want := (OpResult{App: "web", State: AppStopped}); stopped != want {
		t.Errorf("stop result %+v, want %+v", stopped, want)
	}
	if _, err := s.Do(ctx, Op("bounce"), "web"); err == nil {
		t.Error("an unknown operation succeeded")
	}
}
