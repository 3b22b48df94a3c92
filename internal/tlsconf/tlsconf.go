// Package tlsconf builds the TLS client configuration of the components
// that have a `tls:` block (the kafka source, the http sink), so that its
// keys mean the same everywhere.
//
// ca_file adds to the system's roots: a PEM bundle of a private CA lets
// the component trust servers with certificates from that CA while public
// certificates still verify. With no ca_file, the system's roots alone are
// trusted.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Options are the keys of a `tls:` block. Errors name them as tls.<key>.
type Options struct {
	// CAFile is a PEM bundle of CAs trusted in addition to the system's roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key (mutual
	// TLS); both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
	// InsecureSkipVerify turns off certificate verification (tests only).
	InsecureSkipVerify bool
}

// New returns a client TLS configuration (TLS 1.2 or later) for o.
func New(o Options) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         o.ServerName,
		InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec // opt-in, documented as for tests
	}
	if o.CAFile != "" {
		pool, err := RootCAs(o.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("tls.cert_file and tls.key_file must be set together")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file/tls.key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// RootCAs returns the system's roots plus the PEM certificates of caFile
// (those alone when the system has none).
func RootCAs(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tls.ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls.ca_file: no PEM certificate in %s", caFile)
	}
	return pool, nil
}
