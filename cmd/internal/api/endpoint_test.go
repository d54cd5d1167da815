package api

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gracevisor.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestResolve(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	logs := "logger: {log_dir: " + t.TempDir() + "}\n"
	valid := writeConfig(t, "rpc: {host: 127.0.0.1, port: 9123}\n"+logs)
	invalid := writeConfig(t, "rpc: {host: 127.0.0.1, port: 9124}\nbogus_key: 1\n")
	broken := writeConfig(t, "rpc: [unclosed\n")
	sockDir := t.TempDir()
	sock := filepath.Join(sockDir, "gv.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	token := filepath.Join(sockDir, "token")
	if err := os.WriteFile(token, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(sockDir, "gone.sock")
	socketOnly := writeConfig(t, "rpc: {port: 0, socket: "+gone+"}\n"+logs)
	socketAndTCP := writeConfig(t, "rpc: {host: 127.0.0.1, port: 9125, socket: "+sock+", token_file: "+token+"}\n"+logs)
	unusableSocket := writeConfig(t, "rpc: {host: 127.0.0.1, port: 9126, socket: "+gone+", token_file: "+token+"}\n"+logs)
	certDir := t.TempDir()
	for _, f := range []string{"cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(certDir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	withTLS := writeConfig(t, "rpc: {host: 127.0.0.1, port: 9127, tls: {cert_file: "+certDir+"/cert.pem, key_file: "+certDir+"/key.pem}}\n"+logs)
	invalidWithSocket := writeConfig(t, "rpc: {port: 0, socket: "+sock+", token_file: "+token+"}\nbogus_key: 1\n")
	cases := []struct {
		name     string
		rpc, dir string
		explicit bool
		want     Endpoint
		code     int
	}{
		// --rpc wins and is only checked for shape.
		{"rpc flag", "10.0.0.1:77", missing, true, Endpoint{"tcp", "10.0.0.1:77", "", false, ""}, 0},
		{"rpc flag without port", "localhost", missing, false, Endpoint{}, ExitUsage},
		{"rpc flag unix", "unix:" + sock, missing, true, Endpoint{"unix", sock, "", false, ""}, 0},
		{"rpc flag unix, empty", "unix:", missing, true, Endpoint{}, ExitUsage},
		// --rpc still takes the token file from the config.
		{"rpc flag with config token", "127.0.0.1:1", socketAndTCP, true, Endpoint{"tcp", "127.0.0.1:1", token, false, ""}, 0},
		// ... but never sends it in clear to another machine.
		{"rpc flag to another host, no config token", "10.0.0.1:9125", socketAndTCP, true, Endpoint{"tcp", "10.0.0.1:9125", "", false, ""}, 0},
		// TLS: from the config's rpc.tls, or https:// in --rpc.
		{"rpc flag https", "https://10.0.0.1:77", missing, true, Endpoint{"tcp", "10.0.0.1:77", "", true, ""}, 0},
		{"rpc flag https without port", "https://10.0.0.1", missing, true, Endpoint{}, ExitUsage},
		{"config with tls", "", withTLS, true, Endpoint{"tcp", "127.0.0.1:9127", "", true, ""}, 0},
		{"rpc flag to the config's tls address", "127.0.0.1:9127", withTLS, true, Endpoint{"tcp", "127.0.0.1:9127", "", true, ""}, 0},
		// The config's rpc section.
		{"valid config", "", valid, true, Endpoint{"tcp", "127.0.0.1:9123", "", false, ""}, 0},
		{"socket we may use", "", socketAndTCP, true, Endpoint{"unix", sock, token, false, ""}, 0},
		{"socket we cannot use: TCP", "", unusableSocket, true, Endpoint{"tcp", "127.0.0.1:9126", token, false, ""}, 0},
		{"TCP off: the socket", "", socketOnly, true, Endpoint{"unix", gone, "", false, ""}, 0},
		// An invalid config still names the daemon, so update can report.
		{"invalid config", "", invalid, true, Endpoint{"tcp", "127.0.0.1:9124", "", false, ""}, 0},
		{"invalid config with socket", "", invalidWithSocket, true, Endpoint{"unix", sock, token, false, ""}, 0},
		// The default only when the user did not name a config dir.
		{"default dir missing", "", missing, false, Endpoint{"tcp", "localhost:9001", "", false, ""}, 0},
		{"explicit dir missing", "", missing, true, Endpoint{}, ExitUsage},
		{"unparsable yaml", "", broken, true, Endpoint{}, ExitUsage},
	}
	for _, tc := range cases {
		got, err := Resolve(tc.rpc, tc.dir, tc.explicit)
		if code := Code(err); code != tc.code || got != tc.want {
			t.Errorf("%s: got %+v, exit %d (%v); want %+v, exit %d", tc.name, got, code, err, tc.want, tc.code)
		}
		if err != nil && strings.Contains(err.Error(), "\n") && tc.name != "unparsable yaml" {
			t.Errorf("%s: multi-line error %q", tc.name, err)
		}
	}
}
