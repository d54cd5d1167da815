package apiserver

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/gracevisor/gracevisor/config"
)

// TLS for the control API's TCP listener (rpc.tls). The certificate is read
// once, at start (an upgrade's new daemon reads it afresh). The unix socket
// never uses TLS: the kernel decides who may connect to it.

// serverTLS loads the certificate and key of rpc.tls.
func serverTLS(c config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("rpc.tls: load %s and %s: %w", c.CertFile, c.KeyFile, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"}, // the API is HTTP/1.1 (gracevisorctl speaks nothing else)
	}, nil
}

// TLS reports whether the TCP listener serves TLS. A nil Security does not.
func (s *Security) TLS() bool { return s != nil && s.tls != nil }

// WrapTLS makes every TCP listener of lns serve TLS when the policy has a
// certificate; other listeners (the unix socket), and all of them without
// one, are returned as they are. Wrap the listeners that are served, not
// those handed to a successor daemon: it wraps its own.
func (s *Security) WrapTLS(lns []net.Listener) []net.Listener {
	if !s.TLS() {
		return lns
	}
	out := make([]net.Listener, len(lns))
	for i, ln := range lns {
		out[i] = ln
		if ln.Addr().Network() == "tcp" {
			out[i] = tls.NewListener(ln, s.tls)
		}
	}
	return out
}
