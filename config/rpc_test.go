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
		SocketOwner: "root:root", TokenFile: filepath.Join(dir, "token")}
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
	}
	for _, tc := range cases {
		_, ps := loadProblems(t, map[string]string{FileName: tc.yaml})
		if len(ps) != 1 || ps[0].Key != tc.key || !strings.Contains(ps[0].Msg, tc.msg) {
			t.Errorf("%q: problems %+v, want one at %s containing %q", tc.yaml, ps, tc.key, tc.msg)
		}
	}
}
