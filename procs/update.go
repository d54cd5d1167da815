package procs

import (
	"context"
	"errors"
	"fmt"
	"slices"

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
// Update blocks until every change is done. Errors (an added app's address
// cannot be bound, a reload failed and the old instance still serves) are
// joined; a changed app whose reload failed keeps the new config as its
// desired state, so a later Reload retries it.
func (s *Supervisor) Update(ctx context.Context, cfg *config.Config) (Changes, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	started := s.started && !s.shut
	added, removed, changed := config.Diff(&config.Config{Apps: s.configs}, cfg)
	ch := Changes{Added: sorted(added), Removed: sorted(removed), Changed: sorted(changed)}
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
	errs := s.reloadChanged(ctx, cfg, ch.Changed)
	failed, err := s.addApps(ctx, cfg, ch.Added)
	errs = append(errs, err)

	next := slices.DeleteFunc(slices.Clone(cfg.Apps), func(a config.App) bool {
		return slices.Contains(failed, a.Name)
	})
	s.mu.Lock()
	s.configs, s.adds = next, nil
	s.mu.Unlock()
	return ch, errors.Join(errs...)
}

// reloadChanged sends every changed app its new config in parallel and
// waits for the reloads.
func (s *Supervisor) reloadChanged(ctx context.Context, cfg *config.Config, names []string) []error {
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
	var errs []error
	for i, r := range replies {
		if r == nil {
			continue
		}
		select {
		case o := <-r:
			errs = append(errs, o.err)
		case <-ctx.Done():
			return append(errs, fmt.Errorf("update %s: %w", names[i], ctx.Err()))
		}
	}
	return errs
}

// addApps binds and starts the added apps; it returns those it could not bind.
func (s *Supervisor) addApps(ctx context.Context, cfg *config.Config, names []string) (failed []string, err error) {
	var errs []error
	var apps []*app
	for _, name := range names {
		c := *cfg.App(name)
		f, err := openFront(&c, s.logger, s.d.listen, false)
		if err != nil {
			s.settleAdd(name, nil)
			errs = append(errs, err)
			failed = append(failed, name)
			continue
		}
		a := newApp(s, c, f)
		s.settleAdd(name, a)
		a.run()
		apps = append(apps, a)
	}
	errs = append(errs, s.startAll(ctx, apps))
	return failed, errors.Join(errs...)
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
