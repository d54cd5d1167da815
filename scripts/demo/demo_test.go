// Package demo holds the configuration `make run` uses; this test keeps it
// loadable as the config format evolves.
package demo

import (
	"testing"

	"github.com/gracevisor/gracevisor/config"
)

// The demo config must load, and keep the promises scripts/demo/README.md
// makes: demo on localhost:8080 with a healthcheck, API on localhost:9001,
// no root, internal ports 10000-10999.
func TestDemoConfigLoads(t *testing.T) {
	c, err := config.Load(".")
	if err != nil {
		t.Fatalf("scripts/demo/gracevisor.yaml: %v", err)
	}
	if c.RPC.Addr() != "localhost:9001" {
		t.Errorf("rpc = %s, want localhost:9001", c.RPC.Addr())
	}
	if c.PortRange != (config.PortRange{From: 10000, To: 11000}) {
		t.Errorf("port_range = %+v, want 10000..11000", c.PortRange)
	}
	app := c.App("demo")
	if app == nil || len(c.Apps) != 1 {
		t.Fatalf("apps = %+v, want just demo", c.Apps)
	}
	if app.ExternalAddr() != "localhost:8080" || app.Healthcheck != "/health" {
		t.Errorf("demo: external %s, healthcheck %q; want localhost:8080, /health", app.ExternalAddr(), app.Healthcheck)
	}
	if c.User != "" || app.User != "" {
		t.Errorf("user = %q/%q, want none (the demo runs without root)", c.User, app.User)
	}
}
