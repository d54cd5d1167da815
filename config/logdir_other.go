//go:build !linux

package config

// kernelFS names the kernel file system path is on; elsewhere than Linux
// the check is left to access(2).
func kernelFS(string) string { return "" }
