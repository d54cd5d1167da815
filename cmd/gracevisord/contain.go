package main

import (
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gracevisor/gracevisor/config"
	"github.com/gracevisor/gracevisor/procs"
)

// stateDirName is the directory, beside the daemon's log file, where in
// process-group mode each daemon records its instances for the sweep.
const stateDirName = "gracevisord.state"

// containApps decides how instances are held (cgroups, else process
// groups; GRACEVISOR_CONTAINMENT=process-group forces the latter), says so
// once, and — unless an upgrade started this daemon, whose predecessor is
// alive and serving — kills what a predecessor that died left behind.
func containApps(cfg *config.Config, log *slog.Logger, byUpgrade bool) *procs.Containment {
	c := procs.NewContainment(procs.ContainOptions{
		ForceProcessGroups: os.Getenv(procs.ContainEnv) == procs.ContainProcessGroup,
		StateDir:           filepath.Join(filepath.Dir(cfg.Log.Path), stateDirName),
	})
	log.Info("instances are contained", "containment", c.Mode())
	for _, n := range c.Notes() {
		log.Warn("containment: " + n)
	}
	if !byUpgrade {
		if killed := c.Sweep(log); len(killed) > 0 {
			log.Warn("swept what a previous gracevisord left running", "killed", len(killed))
		}
	}
	return c
}
