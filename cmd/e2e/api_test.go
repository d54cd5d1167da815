package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/procs"
)

// apiCall sends a request to the control API with a plain net/http client
// and decodes the JSON reply into out.
func (e *env) apiCall(method, path string, wantCode int, out any) {
	e.t.Helper()
	var body io.Reader
	if method == "POST" {
		body = strings.NewReader("{}") // state changes are POST with a JSON body
	}
	req, err := http.NewRequest(method, "http://"+e.rpc+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantCode {
		e.t.Fatalf("%s %s: %d %s; want %d", method, path, resp.StatusCode, reply, wantCode)
	}
	if ct := resp.Header.Get("Content-Type"); out != nil && ct != "application/json" {
		e.t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(reply, out); err != nil {
			e.t.Fatalf("%s %s: reply %q: %v", method, path, reply, err)
		}
	}
}

// TestAPIWithPlainHTTP drives the control API as curl would.
func TestAPIWithPlainHTTP(t *testing.T) {
	e := newEnv(t)
	web := e.newApp("web", "")
	e.writeConfig(web)
	d := e.start()

	var all []procs.AppStatus
	e.apiCall("GET", "/api/v1/status", 200, &all)
	if len(all) != 1 || all[0].Name != "web" || all[0].State != procs.AppRunning {
		t.Fatalf("status: %+v", all)
	}
	var one procs.AppStatus
	e.apiCall("GET", "/api/v1/apps/web", 200, &one)
	e.apiCall("GET", "/api/v1/status?app=web", 200, &all)

	var apiErr struct{ Error string }
	e.apiCall("GET", "/api/v1/apps/nope", 404, &apiErr)
	if !strings.Contains(apiErr.Error, "nope") {
		t.Fatalf("404 error %q does not name the app", apiErr.Error)
	}
	e.apiCall("GET", "/api/v1/apps/web/reload", 405, &apiErr)
	e.apiCall("POST", "/api/v1/apps/web/logs", 405, &apiErr)
	e.apiCall("GET", "/api/v1/apps/web/logs?stream=both", 400, &apiErr)

	var res procs.ReloadResult
	e.apiCall("POST", "/api/v1/apps/web/reload", 200, &res)
	if res.App != "web" || res.PID == one.Instances[0].PID || res.DurationMS <= 0 {
		t.Fatalf("reload result %+v (old pid %d)", res, one.Instances[0].PID)
	}

	var ch procs.Changes
	e.apiCall("POST", "/api/v1/update", 200, &ch)
	var v struct{ Version, Go string }
	e.apiCall("GET", "/api/v1/version", 200, &v)
	if v.Version != "e2e-test" {
		t.Fatalf("version %+v", v)
	}

	// A follow stream: the tail arrives at once, and the stream ends when
	// the daemon shuts down.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+e.rpc+"/api/v1/apps/web/logs?n=1&follow=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, "demoapp pid=") {
		t.Fatalf("first followed line %q: %v", line, err)
	}
	var bye struct{ Status string }
	e.apiCall("POST", "/api/v1/shutdown", 200, &bye)
	if bye.Status != "stopped" {
		t.Fatalf("shutdown reply %+v", bye)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("follow stream did not end cleanly at shutdown: %v", err)
	}
	if code := d.waitExit(15 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
