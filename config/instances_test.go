package config

import "testing"

// TestInstancesOptions: instances and reload_strategy, written and not.
func TestInstancesOptions(t *testing.T) {
	cases := []struct {
		name, yaml string
		n          int
		strategy   string
	}{
		{"defaults", "", 1, ReloadAllAtOnce},
		{"three rolling", "    instances: 3\n    reload_strategy: Rolling\n", 3, ReloadRolling},
		{"the most", "    instances: 64\n    reload_strategy: all-at-once\n", 64, ReloadAllAtOnce},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := mustLoad(t, "apps:\n"+app("a", tc.yaml)).Apps[0]
			if a.Instances != tc.n || a.ReloadStrategy != tc.strategy {
				t.Errorf("got instances %d, reload_strategy %q; want %d, %q", a.Instances, a.ReloadStrategy, tc.n, tc.strategy)
			}
		})
	}
}

// TestInstancesProblems: one problem each, at the key.
func TestInstancesProblems(t *testing.T) {
	for _, tc := range []problemCase{
		main("instances 0", "apps:\n"+app("a", "    instances: 0\n"), 4, "apps[0].instances", "must be from 1 to 64, got 0"),
		main("instances too many", "apps:\n"+app("a", "    instances: 65\n"), 4, "apps[0].instances", "must be from 1 to 64, got 65"),
		main("instances a string", "apps:\n"+app("a", "    instances: three\n"), 4, "apps[0].instances", "want an integer"),
		main("unknown strategy", "apps:\n"+app("a", "    reload_strategy: blue-green\n"), 4, "apps[0].reload_strategy", `want all-at-once or rolling, got "blue-green"`),
		main("rollback window with instances", "apps:\n"+app("a", "    instances: 2\n    rollback_window: 30\n"), 5, "apps[0].rollback_window", "needs instances: 1"),
	} {
		t.Run(tc.name, func(t *testing.T) { checkOneProblem(t, tc) })
	}
}

// TestInstancesChange: a changed instance count is a changed app; see
// procs for how an update that changes only it scales instead of reloading.
func TestInstancesChange(t *testing.T) {
	a := mustLoad(t, "apps:\n"+app("a", ""))
	b := mustLoad(t, "apps:\n"+app("a", "    instances: 2\n"))
	if _, _, changed := Diff(a, b); len(changed) != 1 {
		t.Fatalf("changed = %v", changed)
	}
}
