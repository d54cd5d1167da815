// Package buildinfo names the build a binary came from, for
// `gracevisorctl version` and GET /api/v1/version. Both binaries use it,
// so their build ids compare equal when they come from one commit.
package buildinfo

import "runtime/debug"

// revisionLen is how much of a commit hash a build id keeps; the Makefile's
// `git rev-parse --short=12` keeps as much.
const revisionLen = 12

// ID is the build id of this binary:
//
//   - set, when not "": the Makefile passes -ldflags "-X main.buildID=…",
//     the commit's 12-digit hash with "-dirty" when the tree had changes;
//   - else the commit the go command stamped into the binary (vcs.revision,
//     12 digits, "-dirty" when vcs.modified), for a plain `go build` in a
//     git checkout;
//   - else "unknown" (go run, go test, a build outside a checkout or with
//     -buildvcs=false).
func ID(set string) string {
	if set != "" {
		return set
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return fromSettings(info.Settings)
}

// fromSettings is the build id the go command's VCS stamp gives.
func fromSettings(settings []debug.BuildSetting) string {
	var rev, modified string
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "unknown"
	}
	rev = rev[:min(len(rev), revisionLen)]
	if modified == "true" {
		rev += "-dirty"
	}
	return rev
}
