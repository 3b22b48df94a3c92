package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCA writes a self-signed certificate for 127.0.0.1 as a PEM file and
// returns it and its path.
func writeCA(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, p
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
