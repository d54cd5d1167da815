package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestID(t *testing.T) {
	if got := ID("abc123-dirty"); got != "abc123-dirty" {
		t.Errorf("ID with an ldflag = %q", got)
	}
	if got := ID(""); got == "" {
		t.Error(`ID("") is empty`)
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{nil, "unknown"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}, "0123456789ab"},
		{[]debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: rev}}, "0123456789ab-dirty"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}, "abc"},
	} {
		if got := fromSettings(tc.settings); got != tc.want {
			t.Errorf("fromSettings(%v) = %q, want %q", tc.settings, got, tc.want)
		}
	}
}
