//go:build !linux

// The benchmark drives Linux tools (HAProxy, nginx, /proc); elsewhere it
// only says so.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bench: runs on Linux only")
	os.Exit(1)
}
