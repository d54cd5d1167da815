package procs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gracevisor/gracevisor/config"
)

// Update applies a new config (config.Diff decides what changed): removed
// apps are stopped gracefully and dropped, changed apps reload hitlessly
// into their new config (a new instance with the new App config, a new
// listener if the external address changed, and connect_timeout and
// max_connections once the new instance serves; a stopped app just keeps
// the config for its next start; a FATAL one is started), added apps are bound and started like Start does.
// Untouched apps keep their instance. A changed port_range applies to
// instances started from now on.
//
// Update blocks until every change is done: every added app serves or its
// first try failed (bounded by its start_timeout), and every changed app
// serves its new config or its reload gave up. The apps that did not get
// ready are listed in Changes.Failed with the reason; everything else the
// update did stays done. An added app whose address cannot be bound is
// dropped; an added app whose first try failed stays and retries under
// max_retries (BACKOFF, then RUNNING or FATAL); a changed app whose reload
// failed keeps the new config as its desired state (the old instance still
// serves), so a later Reload retries it. A running app whose only change
// is its instance count scales instead of reloading (see Scale), unless
// it is starting or reloading; an app that Scale changed since the last
// Update is listed as changed and gets the file's count again. The error
// is non-nil only when ctx ended before the update was done.
func (s *Supervisor) Update(ctx context.Context, cfg *config.Config) (Changes, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	started := s.started && !s.shut
	added, removed, changed := config.Diff(&config.Config{Apps: s.configs}, cfg)
	changed = s.rescaled(cfg, changed)
	ch := Changes{Added: sorted(added), Removed: sorted(removed), Changed: sorted(changed), Failed: []AppFailure{}}
	s.d.ports.SetRange(cfg.PortRange.From, cfg.PortRange.To)
	if !started {
		s.configs = slices.Clone(cfg.Apps)
		s.mu.Unlock()
		return ch, nil
	}
	s.adds = additions(cfg, ch.Added)
	var gone []*app
	for _, name := range ch.Removed {
		gone = append(gone, s.apps[name])
		delete(s.apps, name)
	}
	s.mu.Unlock()

	// A shutdown that cancels ctx meanwhile must not turn the graceful stop
	// of removed apps into an immediate SIGKILL.
	s.terminate(context.WithoutCancel(ctx), gone, terminateReq{})
	reloads, err := s.reloadChanged(ctx, cfg, ch.Changed)
	unbound, starts, addErr := s.addApps(ctx, cfg, ch.Added)
	ch.Failed = append(append(ch.Failed, reloads...), starts...)
	slices.SortFunc(ch.Failed, func(x, y AppFailure) int { return strings.Compare(x.App, y.App) })

	next := slices.DeleteFunc(slices.Clone(cfg.Apps), func(a config.App) bool {
		return slices.ContainsFunc(unbound, func(f AppFailure) bool { return f.App == a.Name })
	})
	s.mu.Lock()
	s.configs, s.adds = next, nil
	s.mu.Unlock()
	return ch, errors.Join(err, addErr)
}

// rescaled adds to changed the apps a Scale changed that cfg keeps: the
// update gives them the file's instance count again (an unchanged file
// makes that a scale, see doUpdate). Call with s.mu held.
func (s *Supervisor) rescaled(cfg *config.Config, changed []string) []string {
	for name := range s.scaled {
		if cfg.App(name) != nil && !slices.Contains(changed, name) {
			changed = append(changed, name)
		}
	}
	clear(s.scaled)
	return changed
}

// reloadChanged sends every changed app its new config in parallel and
// waits for the reloads; it returns those that failed, and an error if
// ctx ended first.
func (s *Supervisor) reloadChanged(ctx context.Context, cfg *config.Config, names []string) ([]AppFailure, error) {
	replies := make([]<-chan outcome, len(names))
	for i, name := range names {
		a, err := s.lookup(name)
		if err != nil {
			continue
		}
		r := make(chan outcome, 1)
		replies[i] = r
		a.post(updateReq{*cfg.App(name), waiter{reply: r}})
	}
	var failed []AppFailure
	for i, r := range replies {
		if r == nil {
			continue
		}
		select {
		case o := <-r:
			if o.err != nil {
				failed = append(failed, AppFailure{App: names[i], Error: o.err.Error()})
			}
		case <-ctx.Done():
			return failed, fmt.Errorf("update %s: %w", names[i], ctx.Err())
		}
	}
	return failed, nil
}

// addApps binds and starts the added apps and waits for each one's first
// try. It returns the apps it could not bind (they are dropped), those
// whose first try failed (they retry in the background), and an error if
// ctx ended first.
func (s *Supervisor) addApps(ctx context.Context, cfg *config.Config, names []string) (unbound, notReady []AppFailure, err error) {
	var apps []*app
	for _, name := range names {
		c := *cfg.App(name)
		f, err := openFront(&c, s.logger, s.d.listen, false)
		if err != nil {
			s.settleAdd(name, nil)
			unbound = append(unbound, AppFailure{App: name, Error: err.Error()})
			continue
		}
		a := newApp(s, c, f)
		s.settleAdd(name, a)
		a.run()
		apps = append(apps, a)
	}
	errs, err := s.firstTries(ctx, apps)
	for i, e := range errs {
		if e != nil {
			notReady = append(notReady, AppFailure{App: apps[i].name, Error: e.Error()})
		}
	}
	return unbound, append(unbound, notReady...), err
}

// additions lists the added apps in cfg's order, none of them bound yet.
func additions(cfg *config.Config, added []string) []*addition {
	var adds []*addition
	for _, c := range cfg.Apps {
		if slices.Contains(added, c.Name) {
			adds = append(adds, &addition{cfg: c, bound: make(chan struct{})})
		}
	}
	return adds
}

// settleAdd ends the wait for an added app: it is registered when a is
// not nil, else it could not be bound.
func (s *Supervisor) settleAdd(name string, a *app) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a != nil {
		s.apps[name] = a
	}
	if add := s.addition(name); add != nil {
		close(add.bound)
	}
}

func sorted(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}
