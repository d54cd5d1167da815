package config

import (
	"testing"
)

// TestInheritance covers the global → app rules: the logger field by field,
// and the user.
func TestInheritance(t *testing.T) {
	const global = "user: {username: root}\nlogger: {log_dir: /tmp/g, max_log_size: 20, max_logs_kept: 3, max_log_age: 4}\napps:\n"
	cases := []struct {
		name     string
		appLines string
		user     string
		out, err string
		rot      Rotation
	}{
		{"everything inherited", "", "root",
			"/tmp/g/app_a.out", "/tmp/g/app_a.err", Rotation{20, 3, 4}},
		// Each logger field overrides alone; the rest stays inherited.
		{"log_dir", "    logger: {log_dir: /tmp/a}\n", "root",
			"/tmp/a/app_a.out", "/tmp/a/app_a.err", Rotation{20, 3, 4}},
		{"max_log_size", "    logger: {max_log_size: 1}\n", "root",
			"/tmp/g/app_a.out", "/tmp/g/app_a.err", Rotation{1, 3, 4}},
		{"max_logs_kept", "    logger: {max_logs_kept: 9}\n", "root",
			"/tmp/g/app_a.out", "/tmp/g/app_a.err", Rotation{20, 9, 4}},
		{"max_logs_kept -1 lifts the inherited limit", "    logger: {max_logs_kept: -1}\n", "root",
			"/tmp/g/app_a.out", "/tmp/g/app_a.err", Rotation{20, 0, 4}},
		{"max_log_age", "    logger: {max_log_age: 30}\n", "root",
			"/tmp/g/app_a.out", "/tmp/g/app_a.err", Rotation{20, 3, 30}},
		{"max_log_age 0 lifts the inherited limit", "    logger: {max_log_age: 0}\n", "root",
			"/tmp/g/app_a.out", "/tmp/g/app_a.err", Rotation{20, 3, 0}},
		// Log file names: log_file for both, then per stream.
		{"log_file both streams", "    logger: {log_file: /l/a.log}\n", "root",
			"/l/a.log", "/l/a.log", Rotation{20, 3, 4}},
		{"stdout_log_file over log_file", "    logger: {log_file: /l/a.log, stdout_log_file: /l/a.out}\n", "root",
			"/l/a.out", "/l/a.log", Rotation{20, 3, 4}},
		{"stderr_log_file alone", "    logger: {stderr_log_file: /l/a.err}\n", "root",
			"/tmp/g/app_a.out", "/l/a.err", Rotation{20, 3, 4}},
		{"log_file is not under log_dir", "    logger: {log_dir: /tmp/a, log_file: /l/a.log}\n", "root",
			"/l/a.log", "/l/a.log", Rotation{20, 3, 4}},
		// User.
		{"user overridden", "    user: {username: nobody}\n", "nobody",
			"/tmp/g/app_a.out", "/tmp/g/app_a.err", Rotation{20, 3, 4}},
		{"empty username means gracevisord's own user", "    user: {username: \"\"}\n", "",
			"/tmp/g/app_a.out", "/tmp/g/app_a.err", Rotation{20, 3, 4}},
		{"user mapping without username inherits", "    user: {}\n", "root",
			"/tmp/g/app_a.out", "/tmp/g/app_a.err", Rotation{20, 3, 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := mustLoad(t, global+app("a", tc.appLines)).Apps[0]
			if a.User != tc.user {
				t.Errorf("user = %q, want %q", a.User, tc.user)
			}
			if a.Stdout.Path != tc.out || a.Stderr.Path != tc.err {
				t.Errorf("logs = %s, %s; want %s, %s", a.Stdout.Path, a.Stderr.Path, tc.out, tc.err)
			}
			if a.Stdout.Rotation != tc.rot || a.Stderr.Rotation != tc.rot {
				t.Errorf("rotation = %+v / %+v, want %+v", a.Stdout.Rotation, a.Stderr.Rotation, tc.rot)
			}
		})
	}
}

// TestInheritsGlobalDefaults: with no global logger, apps get the global
// defaults, not zero values.
func TestInheritsGlobalDefaults(t *testing.T) {
	a := mustLoad(t, "apps:\n"+app("a", "    logger: {max_logs_kept: 2}\n")).Apps[0]
	want := Rotation{MaxSizeMB: 500, MaxBackups: 2, MaxAgeDays: 0}
	if a.Stdout.Rotation != want || a.Stdout.Path != "/var/log/gracevisor/app_a.out" || a.User != "" {
		t.Errorf("got %+v user %q", a.Stdout, a.User)
	}
}
