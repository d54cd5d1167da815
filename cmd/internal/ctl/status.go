package ctl

import (
	"context"
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/api"
)

// Status prints every app (or the named ones) as a table or, with --json,
// as the API's array of apps. It exits 3 when a listed app is not RUNNING.
func (s *Session) Status(ctx context.Context, names []string) error {
	cl, err := s.Client()
	if err != nil {
		return err
	}
	apps, err := cl.Status(ctx, names...)
	if err != nil {
		return err
	}
	if s.JSON {
		err = s.printJSON(apps)
	} else {
		err = writeStatusTable(s.Stdout, apps, time.Now())
	}
	if err != nil {
		return err
	}
	for _, a := range apps {
		if a.State != api.AppRunning {
			return api.WithCode(api.ExitNotRunning, nil)
		}
	}
	return nil
}

// AppNames lists every configured app (for reload --all and completion).
func (s *Session) AppNames(ctx context.Context) ([]string, error) {
	cl, err := s.Client()
	if err != nil {
		return nil, err
	}
	apps, err := cl.Status(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.Name
	}
	return names, nil
}
