package api

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gracevisor/gracevisor/config"
)

// Endpoint is where a daemon's control API is, and which token file its
// config names.
type Endpoint struct {
	Network   string // "tcp" or "unix"
	Addr      string // HOST:PORT, or the socket's path
	TokenFile string // rpc.token_file from the config; "" = none
	// TLS: speak TLS on TCP, verifying the daemon's certificate for the
	// host of Addr against CAFile, or the system roots when CAFile is "".
	TLS    bool
	CAFile string
}

func (e Endpoint) String() string {
	switch {
	case e.Network == "unix":
		return "unix:" + e.Addr
	case e.TLS:
		return "https://" + e.Addr
	}
	return e.Addr
}

// host is the Host header of requests to e.
func (e Endpoint) host() string {
	if e.Network == "unix" {
		return "localhost"
	}
	return e.Addr
}

// Resolve finds the daemon's control API:
//
//  1. --rpc HOST:PORT, https://HOST:PORT or unix:/path, when given (the
//     token file is still taken from the config when it loads, and TLS when
//     the config's rpc.tls is set for that same address);
//  2. else the rpc section of DIR/gracevisor.yaml, loaded with config.Load:
//     its unix socket when set and we may write to it (or TCP is off),
//     otherwise rpc.host:rpc.port;
//  3. else, if that file does not exist and --conf was not given explicitly,
//     the default localhost:9001;
//  4. else, if the file exists but is invalid, its rpc section read on its
//     own (config.LoadRPC): the daemon still runs its last good config, and
//     `update` should reach it to report the problems itself;
//  5. else a usage error naming the problem.
func Resolve(rpcFlag, confDir string, confExplicit bool) (Endpoint, error) {
	rpc, cfgErr := rpcSettings(confDir, confExplicit)
	if rpcFlag != "" {
		ep, err := ParseRPCFlag(rpcFlag)
		if err == nil && cfgErr == nil && sameDaemon(ep, rpc) {
			ep.TokenFile = rpc.TokenFile
		}
		if err == nil && cfgErr == nil && ep.Network == "tcp" && ep.Addr == rpc.Addr() && rpc.TLS.On() {
			ep.TLS = true
		}
		return ep, err
	}
	if cfgErr != nil {
		return Endpoint{}, cfgErr
	}
	return endpointFor(rpc), nil
}

// sameDaemon reports whether the config's token may be sent to ep: the
// token is plain text over HTTP, so it goes only to the configured address,
// a unix socket, or a loopback host — never to another machine named by --rpc
// (use --token-file for that).
func sameDaemon(ep Endpoint, rpc config.RPC) bool {
	if ep.Network == "unix" || ep.Addr == rpc.Addr() {
		return true
	}
	host, _, _ := net.SplitHostPort(ep.Addr)
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// ParseRPCFlag parses --rpc: HOST:PORT, https://HOST:PORT (TLS) or
// unix:/path/to/socket.
func ParseRPCFlag(s string) (Endpoint, error) {
	if addr, ok := strings.CutPrefix(s, "https://"); ok {
		ep, err := ParseRPCFlag(strings.TrimSuffix(addr, "/"))
		if err != nil || ep.Network != "tcp" {
			return Endpoint{}, WithCode(ExitUsage, fmt.Errorf("--rpc %q: want https://HOST:PORT", s))
		}
		ep.TLS = true
		return ep, nil
	}
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if path == "" {
			return Endpoint{}, WithCode(ExitUsage, fmt.Errorf("--rpc %q: want unix:/path/to/socket", s))
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return Endpoint{}, WithCode(ExitUsage, fmt.Errorf("--rpc %q: %w", s, err))
		}
		return Endpoint{Network: "unix", Addr: abs}, nil
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return Endpoint{}, WithCode(ExitUsage, fmt.Errorf("--rpc %q: want HOST:PORT or unix:/path", s))
	}
	return Endpoint{Network: "tcp", Addr: s}, nil
}

// WithCA makes e verify the daemon's certificate against the PEM
// certificates in file (--ca-file), which turns TLS on for TCP.
func (e Endpoint) WithCA(file string) Endpoint {
	if file != "" && e.Network == "tcp" {
		e.TLS, e.CAFile = true, file
	}
	return e
}

// endpointFor picks the socket when the config has one and we may use it:
// a user who cannot write to a root-owned 0600 socket goes over TCP (with
// the token) instead.
func endpointFor(rpc config.RPC) Endpoint {
	if rpc.Socket != "" && (!rpc.TCP() || unix.Access(rpc.Socket, unix.W_OK) == nil) {
		return Endpoint{Network: "unix", Addr: rpc.Socket, TokenFile: rpc.TokenFile}
	}
	return Endpoint{Network: "tcp", Addr: rpc.Addr(), TokenFile: rpc.TokenFile, TLS: rpc.TLS.On()}
}

// rpcSettings reads the rpc section of the config (steps 2 to 5 above).
func rpcSettings(confDir string, confExplicit bool) (config.RPC, error) {
	cfg, err := config.Load(confDir)
	if err == nil {
		return cfg.RPC, nil
	}
	file := filepath.Join(confDir, config.FileName)
	if _, statErr := os.Stat(file); errors.Is(statErr, fs.ErrNotExist) && !confExplicit {
		return config.DefaultRPC(), nil
	}
	if rpc, rpcErr := config.LoadRPC(confDir); rpcErr == nil {
		return rpc, nil
	}
	return config.RPC{}, WithCode(ExitUsage, fmt.Errorf("find the daemon from %s (or pass --rpc HOST:PORT): %w", file, err))
}

// Token is the API token to send to e: from tokenFlag (--token-file) when
// set, else from the config's rpc.token_file. On the unix socket a token
// is not needed, so a config token file we may not read is skipped there.
func (e Endpoint) Token(tokenFlag string) (string, error) {
	if tokenFlag != "" {
		tok, err := config.ReadToken(tokenFlag)
		if err != nil {
			return "", WithCode(ExitUsage, fmt.Errorf("--token-file: %w", err))
		}
		return tok, nil
	}
	if e.TokenFile == "" {
		return "", nil
	}
	tok, err := config.ReadToken(e.TokenFile)
	if err != nil && e.Network == "unix" {
		return "", nil
	}
	if err != nil {
		return "", WithCode(ExitUsage, fmt.Errorf("read the API token (rpc.token_file): %w; pass --token-file FILE, or use the unix socket", err))
	}
	return tok, nil
}
