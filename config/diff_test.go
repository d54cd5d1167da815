package config

import (
	"reflect"
	"testing"
)

// TestDiff compares two loaded configs by app name.
func TestDiff(t *testing.T) {
	load := func(yaml string) *Config { return mustLoad(t, yaml) }
	apps := app("same", "    external_port: 8081\n") +
		app("moved", "    external_port: 8082\n") +
		app("gone", "    external_port: 8083\n") +
		app("env", "    external_port: 8084\n    environment: [A=1]\n")
	old := load("apps:\n" + apps)
	cases := []struct {
		name                    string
		old, new                *Config
		added, removed, changed []string
	}{
		{"identical", old, old, nil, nil, nil},
		{"from nothing", nil, old, []string{"env", "gone", "moved", "same"}, nil, nil},
		{"to nothing", old, nil, nil, []string{"env", "gone", "moved", "same"}, nil},
		{"added, removed, changed", old, load("apps:\n" +
			app("new", "    external_port: 8085\n") +
			app("same", "    external_port: 8081\n") +
			app("moved", "    external_port: 9082\n") +
			app("env", "    external_port: 8084\n    environment: [A=2]\n")),
			[]string{"new"}, []string{"gone"}, []string{"env", "moved"}},
		{"an inherited global change changes every app", old, load("logger: {max_log_size: 1}\napps:\n" + apps),
			nil, nil, []string{"env", "gone", "moved", "same"}},
		{"where an app is written (Source) does not count", old, load("\n\n# moved down\napps:\n" + apps),
			nil, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			added, removed, changed := Diff(tc.old, tc.new)
			if !reflect.DeepEqual(added, tc.added) || !reflect.DeepEqual(removed, tc.removed) || !reflect.DeepEqual(changed, tc.changed) {
				t.Errorf("Diff = added %v removed %v changed %v; want %v %v %v",
					added, removed, changed, tc.added, tc.removed, tc.changed)
			}
		})
	}
}

// TestDiffBothNil: nothing to compare is no change.
func TestDiffBothNil(t *testing.T) {
	if a, r, c := Diff(nil, nil); a != nil || r != nil || c != nil {
		t.Errorf("Diff(nil, nil) = %v %v %v", a, r, c)
	}
}
