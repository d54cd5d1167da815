//go:build !linux

package procs

import (
	"log/slog"

	"github.com/gracevisor/gracevisor/config"
)

// containPlatform: this platform has no cgroups; instances are process groups.
type containPlatform struct{}

// NewContainment: on this platform, always process groups (see the Linux one).
func NewContainment(o ContainOptions) *Containment {
	return &Containment{mode: ContainProcessGroup, plat: &containPlatform{}, notes: []string{
		"no cgroups on this platform: instances are process groups; a process that leaves its group can outlive its instance, " +
			"nothing is swept after gracevisord dies, memory_max, pids_max, cpu_max and memory_reload are not applied",
	}}
}

func (p *containPlatform) newCell(*config.App, string) (cell, error) { return &groupCell{}, nil }

func (p *containPlatform) close() {}

// Sweep does nothing on this platform.
func (c *Containment) Sweep(*slog.Logger) []int { return nil }
