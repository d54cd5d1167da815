// Package config reads gracevisord's configuration: DIR/gracevisor.yaml plus
// the app files named by apps_include.
//
// The model, in three passes:
//
//  1. Decode. Each file is parsed into a yaml.Node tree and walked by a
//     schema of known keys (schema.go) into raw structs (raw.go) that keep,
//     for every value, whether it was written and where (file, line, dotted
//     key such as "apps[1].stop_signal"). Unknown keys and wrong types are
//     problems, and decoding carries on past them.
//  2. Resolve. Defaults and inheritance (the global logger field by field
//     and the global user, down to each app) are applied in one place
//     (resolve.go). Relative paths resolve against the process's working
//     directory, as in the original gracevisor — not against the config
//     directory.
//  3. Validate. Every value and every cross-app rule (unique names, distinct
//     external addresses, nothing listening inside port_range) is checked,
//     and every problem is reported at once, one "FILE:LINE: KEY: message"
//     line each, as an *Error.
//
// What Load returns is fully resolved: durations are time.Duration, signals
// are syscall.Signal, paths are absolute, and nothing else in the program
// needs to know a default. A *Config is a plain value: safe for concurrent
// reads, not for concurrent writes; Load returns a fresh one each call.
package config
