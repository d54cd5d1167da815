package api

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// TLS to a daemon whose rpc.tls is set. The daemon's certificate is
// verified for the host the client dials (an IP address or a name, as in
// --rpc or rpc.host) against --ca-file, or the system roots without one.
// There is no way to skip verification: the token crosses this connection.

// clientTLS is the TLS config for ep: its CA file's certificates, or the
// system roots, and the host of ep.Addr as the name to verify.
func clientTLS(ep Endpoint) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(ep.Addr)
	if err != nil {
		return nil, WithCode(ExitUsage, fmt.Errorf("daemon address %q: %w", ep.Addr, err))
	}
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if ep.CAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(ep.CAFile)
	if err != nil {
		return nil, WithCode(ExitUsage, fmt.Errorf("--ca-file: %w", err))
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return nil, WithCode(ExitUsage, fmt.Errorf("--ca-file %s: no PEM certificate in it", ep.CAFile))
	}
	return cfg, nil
}

// tlsHint says what to do about a certificate the client did not trust,
// or returns "" for any other error.
func tlsHint(ep Endpoint, err error) string {
	var verify *tls.CertificateVerificationError
	if !errors.As(err, &verify) {
		return ""
	}
	if ep.CAFile == "" {
		return "verified with the system roots; pass --ca-file with the CA that signed the daemon's certificate"
	}
	return "pass --ca-file with the CA that signed the daemon's certificate, not " + ep.CAFile
}
