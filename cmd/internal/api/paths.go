package api

import "net/url"

// The control API's paths. The daemon's mux (cmd/internal/apiserver)
// registers the same ones, with {name} for the app.
const (
	PathStatus   = "/api/v1/status"   // GET [?app=A&app=B]: []AppStatus
	PathUpdate   = "/api/v1/update"   // POST: Changes
	PathShutdown = "/api/v1/shutdown" // POST: ShutdownReply
	PathVersion  = "/api/v1/version"  // GET: Version
	PathUpgrade  = "/api/v1/upgrade"  // POST: a stream of UpgradeEvent lines
	// PathHealth needs no token: 200 "serving" (or "upgrading"), 503
	// "draining" or "stopping", for balancers in front of several hosts.
	PathHealth = "/healthz"
)

// App operations: POST AppPath(name, op).
const (
	OpStart   = "start"   // OpReport
	OpStop    = "stop"    // OpReport
	OpRestart = "restart" // OpReport
	OpReload  = "reload"  // ReloadResult
	// OpRollback: RollbackResult; 409 "nothing to roll back to" when no
	// rollback window is open.
	OpRollback = "rollback"
	// OpScale: ScaleRequest in, ScaleResult out; 400 for a count out of
	// range, 409 while the app starts, reloads or restarts an instance.
	OpScale = "scale"
	OpLogs  = "logs" // GET: text/plain, see Client.Logs
)

// AppPath is the path of an app (op "") or of an operation on it; the
// name is escaped.
func AppPath(name, op string) string {
	p := "/api/v1/apps/" + url.PathEscape(name)
	if op != "" {
		p += "/" + op
	}
	return p
}
