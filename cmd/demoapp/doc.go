// Command demoapp is a tiny server for gracevisor's demo and tests.
//
// By default it is an HTTP server on --host:--port:
//
//	GET /            pid=<pid> started=<RFC3339Nano> port=<port> client=<addr>
//	GET /health      200 "ok", or 503 while the --health-file exists or after POST /sick
//	POST /sick       this process (only) answers 503 on /health from now on
//	GET /slow?ms=N   the same line as /, after N milliseconds
//	GET /inflight    how many /slow requests are being served right now
//	GET /work?n=N    the same line as /, after N thousand rounds of SHA-256 (a CPU-bound endpoint)
//
// With --echo it is a line-echo TCP server instead: every line a client sends
// is written back; when the client half-closes, any unterminated rest is
// written back too and demoapp half-closes its side, then closes.
//
// With --proxy-protocol every connection must start with a PROXY protocol
// header (v1 or v2, parsed by github.com/pires/go-proxyproto), and the client
// it names is the client=<addr> reported, as an app behind gracevisor's
// proxy_protocol would see it.
//
// It prints one line to stdout when it listens and one when it stops; per
// request only with --access-log ("demoapp pid=N access client=ADDR …"). SIGTERM or SIGINT stops it gracefully: the listener closes,
// in-flight requests (or echo connections) get up to --grace to finish, idle
// keep-alive connections are closed, and it exits 0 (1 if the grace ran out).
//
// The failure-mode flags (--fail-start, --exit-after, --ignore-term,
// --spawn-child) let supervisor tests produce the bad behaviour they must
// survive. The port comes from --port, else $GRACEVISOR_PORT, else $PORT;
// port 0 lets the kernel choose (the listening line shows the real one).
package main
