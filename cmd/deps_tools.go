//go:build tools

// Package cmd pins module requirements while the packages that use them are written.
// Delete this file once every module below is imported by real code.
package cmd

import (
	_ "github.com/spf13/cobra"
	_ "go.uber.org/goleak"
	_ "golang.org/x/sys/unix"
	_ "gopkg.in/natefinch/lumberjack.v2"
	_ "gopkg.in/yaml.v3"
	_ "mvdan.cc/sh/v3/shell"
)
