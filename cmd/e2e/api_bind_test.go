package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// TestAPIBindFailureStartsNoApp (issue 18 item 3): the control API is bound
// before any app starts, so a taken rpc port or socket path fails start-up
// with one line and exit 1, and no app process ever ran — not even for a
// moment (the app's command leaves a file behind if it runs).
func TestAPIBindFailureStartsNoApp(t *testing.T) {
	for _, which := range []string{"tcp", "socket"} {
		t.Run(which, func(t *testing.T) {
			e := newEnv(t)
			marker := filepath.Join(e.dir, "started")
			web := e.newApp("web", "")
			web.extra = "command: touch " + marker + "-{port}"
			busy := e.rpc
			if which == "socket" {
				busy = filepath.Join(e.dir, "gv.sock")
				e.rpcYAML = fmt.Sprintf("host: 127.0.0.1, port: %d, socket: %s", portOf(t, e.rpc), busy)
				e.writeFile("gv.sock", "not a socket")
			} else {
				ln, err := net.Listen("tcp", busy)
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
			}
			e.writeConfig(web)

			d := e.spawnQuiet()
			if code := d.waitExit(30 * time.Second); code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, d.output)
			}
			out := d.output.String()
			if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "gracevisord: control API: ") || !strings.Contains(out, busy) {
				t.Fatalf("want one line \"gracevisord: control API: …\" naming %s, got:\n%s", busy, out)
			}
			if started, _ := filepath.Glob(marker + "-*"); len(started) > 0 {
				t.Fatalf("the app was started before the API bind failed: %v", started)
			}
			if !testutil.Refused(web.addr) {
				t.Fatal("the app's external listener was bound")
			}
			if which == "socket" && !testutil.Refused(e.rpc) {
				t.Fatal("the TCP listener bound before the socket failed was left open")
			}
		})
	}
}

// TestAPIOnIPv6Loopback (issue 18 item 3): rpc.host "[::1]" — the way a
// URL writes it — is the same as "::1": the daemon serves there, and
// gracevisorctl --conf finds it.
func TestAPIOnIPv6Loopback(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	e := newEnv(t)
	port := portOf(t, e.rpc)
	e.rpcYAML = fmt.Sprintf("host: '[::1]', port: %d", port)
	e.rpc = fmt.Sprintf("[::1]:%d", port)
	web := e.newApp("web", "")
	e.writeConfig(web)
	e.start()
	if r := runCtl(t, "--conf", e.dir, "status", "web"); r.code != 0 || !strings.Contains(r.stdout, "RUNNING") {
		t.Fatalf("status via --conf: %v", r)
	}
}
