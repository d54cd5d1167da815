// Package api is the control API's contract, as both ends see it: the JSON
// bodies (wire.go), the paths (Path*, AppPath), what an answer means for
// gracevisorctl's exit code (exit.go), how a client finds the daemon
// (endpoint.go), and the Client itself.
//
// The model: the daemon translates its procs types into these wire types,
// field for field, and gracevisorctl decodes them; neither end shares a Go
// type with the supervisor, so the CLI links none of it. The JSON is a
// public interface (scripts parse `status --json`): field names, order and
// omitempty stay as they are.
//
// This package must stay small to link: it does not import net/http. The
// Client speaks the little HTTP/1.1 the API needs (one request per
// connection, JSON or a streamed log back) in http1.go; net/http's client,
// with HTTP/2, proxies and cookies, would more than double gracevisorctl.
package api
