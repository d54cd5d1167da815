package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/gracevisor/gracevisor/config"
)

const (
	defaultConfDir = config.DefaultDir
	defaultRPCHost = "localhost"
	defaultRPCPort = 9001
)

// resolveAddr finds the daemon's control API address:
//
//  1. --rpc HOST:PORT, when given;
//  2. else the rpc section of DIR/gracevisor.yaml, loaded with config.Load;
//  3. else, if that file does not exist and --conf was not given explicitly,
//     the default localhost:9001;
//  4. else, if the file exists but is invalid, its rpc section read on its
//     own: the daemon still runs its last good config, and `update` should
//     reach it to report the problems itself;
//  5. else a usage error naming the problem.
func resolveAddr(rpcFlag, confDir string, confExplicit bool) (string, error) {
	if rpcFlag != "" {
		if _, _, err := net.SplitHostPort(rpcFlag); err != nil {
			return "", withCode(exitUsage, fmt.Errorf("--rpc %q: want HOST:PORT", rpcFlag))
		}
		return rpcFlag, nil
	}
	cfg, err := config.Load(confDir)
	if err == nil {
		return cfg.RPC.Addr(), nil
	}
	file := filepath.Join(confDir, config.FileName)
	if _, statErr := os.Stat(file); errors.Is(statErr, fs.ErrNotExist) && !confExplicit {
		return net.JoinHostPort(defaultRPCHost, strconv.Itoa(defaultRPCPort)), nil
	}
	if addr, ok := rpcSectionOnly(file); ok {
		return addr, nil
	}
	return "", withCode(exitUsage, fmt.Errorf("find the daemon from %s (or pass --rpc HOST:PORT): %w", file, err))
}

// rpcSectionOnly reads just the rpc section of a config file, ignoring the
// rest, with the loader's defaults.
func rpcSectionOnly(file string) (string, bool) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", false
	}
	var doc struct {
		RPC struct {
			Host string `yaml:"host"`
			Port int    `yaml:"port"`
		} `yaml:"rpc"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", false
	}
	host, port := doc.RPC.Host, doc.RPC.Port
	if host == "" {
		host = defaultRPCHost
	}
	if port == 0 {
		port = defaultRPCPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), true
}
