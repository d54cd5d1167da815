package daemon

import (
	"context"
	"encoding/json"
	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/cmd/internal/apiserver"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An update to a config with an unusable log_dir or an over-long app name
// is refused with 422, one problem per line, and changes nothing.
func TestUpdateRefusesBadLogDirAndLongName(t *testing.T) {
	dir := t.TempDir()
	writeDaemonConfig(t, dir, " []")
	cfg, sup, log := startedSupervisor(t, dir)
	d := newDaemon(dir, cfg, sup, log)
	a := &apiserver.API{Sup: sup, Update: d.update, LogPath: d.logPath, Log: log, Base: context.Background()}

	yaml := "port_range: {from: 23100, to: 23150}\nrpc: {host: 127.0.0.1, port: 9001}\n" +
		"logger: {log_dir: /proc/self}\n" +
		"apps:\n  - name: " + strings.Repeat("a", 65) + "\n    command: run {port}\n"
	if err := os.WriteFile(filepath.Join(dir, "gracevisor.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/v1/update", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	a.Handler().ServeHTTP(rec, req)
	var body api.ErrorReply
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != 422 || len(body.Problems) != 2 ||
		!strings.Contains(body.Problems[0], ":3: logger.log_dir: /proc/self is not a writable directory") ||
		!strings.Contains(body.Problems[1], ":5: apps[0].name: ") {
		t.Fatalf("update: %d %+v; want 422 naming log_dir and the name", rec.Code, body)
	}
	if d.config() != cfg {
		t.Error("a refused update replaced the running config")
	}
}
