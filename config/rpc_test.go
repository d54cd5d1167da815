package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRPCSecurityOptions(t *testing.T) {
	dir := inTempDir(t, map[string]string{
		"token": "0123456789abcdef0123\n",
		FileName: "rpc:\n  host: 0.0.0.0\n  port: 0\n  socket: run/gv.sock\n  socket_mode: 0660\n" +
			"  socket_owner: root:root\n  token_file: token\n",
	})
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := RPC{Host: "0.0.0.0", Port: 0, Socket: filepath.Join(dir, "run/gv.sock"), SocketMode: 0o660,
		SocketOwner: "root:root", TokenFile: filepath.Join(dir, "token"), MaxConnections: 256}
	if c.RPC != want {
		t.Fatalf("rpc = %+v\nwant  %+v", c.RPC, want)
	}
	if c.RPC.TCP() {
		t.Error("port 0 should turn TCP off")
	}
	uid, gid, err := c.RPC.SocketOwnerIDs()
	if err != nil || uid != 0 || gid != 0 {
		t.Errorf("SocketOwnerIDs = %d, %d, %v", uid, gid, err)
	}
}

func TestSocketModeSpellings(t *testing.T) {
	for text, want := range map[string]os.FileMode{"0600": 0o600, "600": 0o600, `"0o640"`: 0o640, "0": 0, "0777": 0o777} {
		c := mustLoad(t, "rpc: {socket: /run/gv.sock, socket_mode: "+text+"}\n")
		if c.RPC.SocketMode != want {
			t.Errorf("socket_mode %s = %o, want %o", text, c.RPC.SocketMode, want)
		}
	}
}

func TestRPCProblems(t *testing.T) {
	cases := []struct{ yaml, key, msg string }{
		{"rpc: {port: 0}\n", "rpc.port", "needs rpc.socket"},
		{"rpc: {socket: /s, socket_mode: 0800}\n", "rpc.socket_mode", "octal mode"},
		{"rpc: {socket: /s, socket_mode: 01777}\n", "rpc.socket_mode", "octal mode"},
		{"rpc: {socket: /s, socket_mode: [1]}\n", "rpc.socket_mode", "octal mode"},
		{"rpc: {socket_mode: 0600}\n", "rpc.socket_mode", "without rpc.socket"},
		{"rpc: {socket_owner: root}\n", "rpc.socket_owner", "without rpc.socket"},
		{"rpc: {socket: /s, socket_owner: no-such-user-xyz}\n", "rpc.socket_owner", `unknown user "no-such-user-xyz"`},
		{"rpc: {socket: /s, socket_owner: 'root:no-such-group-xyz'}\n", "rpc.socket_owner", `unknown group "no-such-group-xyz"`},
		{"rpc: {socket: /s, socket_owner: 'root:'}\n", "rpc.socket_owner", "user:group"},
		{"rpc: {socket: ''}\n", "rpc.socket", "must not be empty"},
		{"rpc: {token_file: missing-token}\n", "rpc.token_file", "does not exist"},
		{"rpc: {token_file: .}\n", "rpc.token_file", "not a regular file"},
		{"rpc: {max_connections: 0}\n", "rpc.max_connections", "at least 1"},
		// rpc.host: what net.Listen could not take ("missing port in address")
		{"rpc: {host: '[::1]:9001'}\n", "rpc.host", "without a port"},
		{"rpc: {host: 'localhost:9001'}\n", "rpc.host", "without a port"},
		{"rpc: {host: '[localhost]'}\n", "rpc.host", "brackets"},
		{"rpc: {host: '[::1'}\n", "rpc.host", "brackets"},
		{"rpc: {host: '::1]'}\n", "rpc.host", "brackets"},
		{"rpc: {host: ':::1'}\n", "rpc.host", "IPv6 as ::1 or [::1]"},
		{"rpc: {host: 'local host'}\n", "rpc.host", "host name or an IP address"},
		{"rpc: {host: 'http://localhost'}\n", "rpc.host", "host name or an IP address"},
	}
	for _, tc := range cases {
		_, ps := loadProblems(t, map[string]string{FileName: tc.yaml})
		if len(ps) != 1 || ps[0].Key != tc.key || !strings.Contains(ps[0].Msg, tc.msg) {
			t.Errorf("%q: problems %+v, want one at %s containing %q", tc.yaml, ps, tc.key, tc.msg)
		}
	}
}

// An IPv6 rpc.host may be written with or without brackets; both give the
// same host and a listen address net.Listen takes.
func TestRPCHostIPv6Spellings(t *testing.T) {
	cases := map[string]struct{ host, addr string }{
		"'::1'":          {"::1", "[::1]:9001"},
		"'[::1]'":        {"::1", "[::1]:9001"},
		"' [::1] '":      {"::1", "[::1]:9001"},
		"'[fe80::1%lo]'": {"fe80::1%lo", "[fe80::1%lo]:9001"},
		"'::'":           {"::", "[::]:9001"},
		"localhost":      {"localhost", "localhost:9001"},
		"127.0.0.1":      {"127.0.0.1", "127.0.0.1:9001"},
		"''":             {"", ":9001"},
		"gv.example.com": {"gv.example.com", "gv.example.com:9001"},
	}
	for text, want := range cases {
		c := mustLoad(t, "rpc: {host: "+text+"}\n")
		if c.RPC.Host != want.host || c.RPC.Addr() != want.addr {
			t.Errorf("host %s: Host %q Addr %q, want %q %q", text, c.RPC.Host, c.RPC.Addr(), want.host, want.addr)
		}
	}
}

func TestRPCMaxConnections(t *testing.T) {
	if c := mustLoad(t, ""); c.RPC.MaxConnections != 256 {
		t.Errorf("default max_connections = %d, want 256", c.RPC.MaxConnections)
	}
	if c := mustLoad(t, "rpc: {max_connections: 32}\n"); c.RPC.MaxConnections != 32 {
		t.Errorf("max_connections = %d, want 32", c.RPC.MaxConnections)
	}
}

func TestRPCTLS(t *testing.T) {
	dir := inTempDir(t, map[string]string{
		"cert.pem": "x", "key.pem": "x",
		FileName: "rpc:\n  host: 0.0.0.0\n  tls: {cert_file: cert.pem, key_file: key.pem}\n",
	})
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := TLS{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	if c.RPC.TLS != want || !c.RPC.TLS.On() {
		t.Fatalf("rpc.tls = %+v, want %+v", c.RPC.TLS, want)
	}
	if mustLoad(t, "").RPC.TLS.On() {
		t.Error("TLS is on by default")
	}
}

func TestRPCTLSProblems(t *testing.T) {
	cases := []struct{ yaml, key, msg string }{
		{"rpc: {tls: {cert_file: cert.pem}}\n", "rpc.tls.key_file", "needs both cert_file and key_file"},
		{"rpc: {tls: {key_file: cert.pem}}\n", "rpc.tls.cert_file", "needs both cert_file and key_file"},
		{"rpc: {tls: {cert_file: cert.pem, key_file: missing.pem}}\n", "rpc.tls.key_file", "does not exist"},
		{"rpc: {tls: {cert_file: '', key_file: cert.pem}}\n", "rpc.tls.cert_file", "must not be empty"},
		{"rpc: {tls: {cert_file: ., key_file: cert.pem}}\n", "rpc.tls.cert_file", "not a regular file"},
		{"rpc: {port: 0, socket: /s, tls: {cert_file: cert.pem, key_file: cert.pem}}\n", "rpc.tls", "no effect"},
		{"rpc: {tls: {cert: cert.pem}}\n", "rpc.tls.cert", ""},
	}
	for _, tc := range cases {
		_, ps := loadProblems(t, map[string]string{FileName: tc.yaml, "cert.pem": "x"})
		if len(ps) < 1 || ps[0].Key != tc.key || !strings.Contains(ps[0].Msg, tc.msg) {
			t.Errorf("%q: problems %+v, want one at %s containing %q", tc.yaml, ps, tc.key, tc.msg)
		}
	}
}
