package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpcflow/vpcflow/internal/testkit"
)

// writeCA writes a self-signed certificate for 127.0.0.1 as a PEM file and
// returns it and its path.
func writeCA(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	cert, pemBytes := testkit.SelfSigned(t)
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, p
}

func TestCAFileTrustsItsServer(t *testing.T) {
	cert, caFile := writeCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	tc, err := New(Options{CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	resp, err := cl.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cl.CloseIdleConnections()
}

// TestCAFileAddsToSystemRoots checks that ca_file keeps the system's roots.
func TestCAFileAddsToSystemRoots(t *testing.T) {
	sys, err := x509.SystemCertPool()
	if err != nil || len(sys.Subjects()) == 0 { //nolint:staticcheck // counting is enough here
		t.Skip("no system roots on this machine")
	}
	_, caFile := writeCA(t)
	pool, err := RootCAs(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(pool.Subjects()), len(sys.Subjects())+1; got != want { //nolint:staticcheck // as above
		t.Errorf("pool has %d subjects, want the system's %d plus one", got, want)
	}
}

func TestErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		o       Options
		wantErr string
	}{
		{"missing ca", Options{CAFile: filepath.Join(t.TempDir(), "none.pem")}, "tls.ca_file: open"},
		{"no pem", Options{CAFile: bad}, "tls.ca_file: no PEM certificate"},
		{"cert without key", Options{CertFile: bad}, "must be set together"},
		{"bad pair", Options{CertFile: bad, KeyFile: bad}, "tls.cert_file/tls.key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
