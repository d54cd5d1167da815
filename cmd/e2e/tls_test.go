package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// TestTLSAPI: an API on a non-loopback address needs rpc.tls (the daemon
// refuses to start without it); with it, plain HTTP is refused, a client
// that does not trust the certificate (another CA, or the system roots)
// is refused, and gracevisorctl --ca-file works. The CAs are made here.
func TestTLSAPI(t *testing.T) {
	e := newEnv(t)
	tok := e.withToken()
	ca := testutil.SelfSignedTLS(t, t.TempDir())
	other := testutil.SelfSignedTLS(t, t.TempDir())
	web := e.newApp("web", "")
	port := portOf(t, e.rpc)

	// Every interface with a token but without TLS: refused.
	e.rpcYAML = fmt.Sprintf("host: 0.0.0.0, port: %d, token_file: %s", port, tok)
	e.writeConfig(web)
	d := e.spawn()
	if code := d.waitExit(30 * time.Second); code != 1 || !strings.Contains(d.output.String(), "rpc.tls is not set") {
		t.Fatalf("exit %d, want 1 saying rpc.tls is not set:\n%s", code, d.output)
	}
	if !testutil.Refused(web.addr) {
		t.Fatal("an app was started by a daemon that refused to start")
	}

	// With TLS it starts; gracevisorctl --ca-file (as e.ctl passes it) works.
	e.rpcYAML += fmt.Sprintf(", tls: {cert_file: %s, key_file: %s}", ca.Cert, ca.Key)
	e.writeConfig(web)
	e.ctlFlags = []string{"--token-file", tok, "--ca-file", ca.CA}
	e.start()
	if r := e.mustCtl(0, "status"); !strings.Contains(r.stdout, "web") {
		t.Fatalf("status over TLS: %v", r)
	}
	e.mustCtl(0, "reload", "web")

	// Plain HTTP: the daemon answers 400 and no API; gracevisorctl says why.
	if code, body := e.raw("GET", "/api/v1/status", "", e2eToken, "", ""); code != 400 || !strings.Contains(body, "HTTPS") {
		t.Errorf("plain HTTP: %d %q; want 400", code, body)
	}
	r := runCtl(t, "--rpc", e.rpc, "--token-file", tok, "status")
	if r.code != 5 || !strings.Contains(r.stderr, "speaks TLS") || strings.Contains(r.stdout, "web") {
		t.Errorf("gracevisorctl over plain HTTP: %v; want exit 5 saying the daemon speaks TLS", r)
	}

	// A certificate the client does not trust.
	for name, flags := range map[string][]string{
		"another CA":       {"--rpc", e.rpc, "--ca-file", other.CA},
		"the system roots": {"--rpc", "https://" + e.rpc},
	} {
		r := runCtl(t, append(flags, "--token-file", tok, "status")...)
		if r.code != 5 || !strings.Contains(r.stderr, "not trusted") || !strings.Contains(r.stderr, "--ca-file") || r.stdout != "" {
			t.Errorf("%s: %v; want exit 5, not trusted", name, r)
		}
	}
	if r := runCtl(t, "--rpc", e.rpc, "--token-file", tok, "--ca-file", filepath.Join(t.TempDir(), "none.pem"), "status"); r.code != 2 {
		t.Errorf("a missing --ca-file: %v; want a usage error", r)
	}
}
