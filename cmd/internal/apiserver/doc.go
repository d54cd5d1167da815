// Package apiserver is the daemon's side of the control API: the routes
// under /api/v1, the status page and /metrics, who may call them, and what
// one client can hold of the daemon.
//
// The model, from the outside in:
//
//   - listeners (auth_socket.go): TCP on rpc.host:rpc.port and the unix
//     socket rpc.socket, placed with its mode and owner before anyone can
//     connect; each capped in connections (api_limits.go);
//   - the server: timeouts for slow clients, a bound on request URIs and
//     headers (api_limits.go);
//   - the guard (auth*.go), decided once at start-up by NewSecurity: the
//     token on TCP, the Host header on loopback binds (DNS rebinding), the
//     Origin of state changes, a JSON body on every POST; refusals are
//     logged at a bounded rate and counted (auth_refusals.go);
//   - the handlers (api_*.go) translate requests into supervisor calls,
//     procs types into the wire types of cmd/internal/api (wire.go), and
//     errors into status codes (errorStatus). They know nothing about
//     processes or sockets.
package apiserver
