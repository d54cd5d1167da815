package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/gracevisor/gracevisor/config"
)

const (
	defaultConfDir = config.DefaultDir
	defaultRPCHost = "localhost"
	defaultRPCPort = 9001
)

// endpoint is where the daemon's control API is and how to prove who we are.
type endpoint struct {
	network   string // "tcp" or "unix"
	addr      string // HOST:PORT, or the socket's path
	tokenFile string // rpc.token_file from the config; "" = none
}

func (e endpoint) String() string {
	if e.network == "unix" {
		return "unix:" + e.addr
	}
	return e.addr
}

// resolveEndpoint finds the daemon's control API:
//
//  1. --rpc HOST:PORT or --rpc unix:/path, when given (the token file is
//     still taken from the config when it loads);
//  2. else the rpc section of DIR/gracevisor.yaml, loaded with config.Load:
//     its unix socket when set and we may write to it (or TCP is off),
//     otherwise rpc.host:rpc.port;
//  3. else, if that file does not exist and --conf was not given explicitly,
//     the default localhost:9001;
//  4. else, if the file exists but is invalid, its rpc section read on its
//     own: the daemon still runs its last good config, and `update` should
//     reach it to report the problems itself;
//  5. else a usage error naming the problem.
func resolveEndpoint(rpcFlag, confDir string, confExplicit bool) (endpoint, error) {
	rpc, cfgErr := rpcSettings(confDir, confExplicit)
	if rpcFlag != "" {
		ep, err := parseRPCFlag(rpcFlag)
		if err == nil && cfgErr == nil && sameDaemon(ep, rpc) {
			ep.tokenFile = rpc.TokenFile
		}
		return ep, err
	}
	if cfgErr != nil {
		return endpoint{}, cfgErr
	}
	return endpointFor(rpc), nil
}

// sameDaemon reports whether the config's token may be sent to ep: the
// token is plain text over HTTP, so it goes only to the configured address,
// a unix socket, or a loopback host — never to another machine named by --rpc
// (use --token-file for that).
func sameDaemon(ep endpoint, rpc config.RPC) bool {
	if ep.network == "unix" || ep.addr == rpc.Addr() {
		return true
	}
	host, _, _ := net.SplitHostPort(ep.addr)
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

func parseRPCFlag(s string) (endpoint, error) {
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if path == "" {
			return endpoint{}, withCode(exitUsage, fmt.Errorf("--rpc %q: want unix:/path/to/socket", s))
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return endpoint{}, withCode(exitUsage, fmt.Errorf("--rpc %q: %w", s, err))
		}
		return endpoint{network: "unix", addr: abs}, nil
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return endpoint{}, withCode(exitUsage, fmt.Errorf("--rpc %q: want HOST:PORT or unix:/path", s))
	}
	return endpoint{network: "tcp", addr: s}, nil
}

// endpointFor picks the socket when the config has one and we may use it:
// a user who cannot write to a root-owned 0600 socket goes over TCP (with
// the token) instead.
func endpointFor(rpc config.RPC) endpoint {
	if rpc.Socket != "" && (!rpc.TCP() || unix.Access(rpc.Socket, unix.W_OK) == nil) {
		return endpoint{network: "unix", addr: rpc.Socket, tokenFile: rpc.TokenFile}
	}
	return endpoint{network: "tcp", addr: rpc.Addr(), tokenFile: rpc.TokenFile}
}

// rpcSettings reads the rpc section of the config (steps 2 to 5 above).
func rpcSettings(confDir string, confExplicit bool) (config.RPC, error) {
	cfg, err := config.Load(confDir)
	if err == nil {
		return cfg.RPC, nil
	}
	file := filepath.Join(confDir, config.FileName)
	if _, statErr := os.Stat(file); errors.Is(statErr, fs.ErrNotExist) && !confExplicit {
		return config.RPC{Host: defaultRPCHost, Port: defaultRPCPort}, nil
	}
	if rpc, ok := rpcSectionOnly(file); ok {
		return rpc, nil
	}
	return config.RPC{}, withCode(exitUsage, fmt.Errorf("find the daemon from %s (or pass --rpc HOST:PORT): %w", file, err))
}

// rpcSectionOnly reads just the rpc section of a config file, ignoring the
// rest, with the loader's defaults; relative paths resolve against the
// working directory as the loader's do.
func rpcSectionOnly(file string) (config.RPC, bool) {
	data, err := os.ReadFile(file)
	if err != nil {
		return config.RPC{}, false
	}
	var doc struct {
		RPC struct {
			Host      string `yaml:"host"`
			Port      *int   `yaml:"port"`
			Socket    string `yaml:"socket"`
			TokenFile string `yaml:"token_file"`
		} `yaml:"rpc"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return config.RPC{}, false
	}
	r := doc.RPC
	rpc := config.RPC{Host: r.Host, Port: defaultRPCPort, Socket: absOrEmpty(r.Socket), TokenFile: absOrEmpty(r.TokenFile)}
	if rpc.Host == "" {
		rpc.Host = defaultRPCHost
	}
	if r.Port != nil {
		rpc.Port = *r.Port
	}
	return rpc, true
}

func absOrEmpty(p string) string {
	if strings.TrimSpace(p) == "" {
		return ""
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return abs
}

// readToken reads a token file as the daemon does: its first line, trimmed.
func readToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok, _, _ := strings.Cut(string(data), "\n")
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return tok, nil
}
