package kafkasource

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/vpcflow/vpcflow/enrich/eni/ec2stub"
	"github.com/vpcflow/vpcflow/processor/component"
)

// selfSigned returns a server certificate for 127.0.0.1 and its PEM.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kfake"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestTLSAndSCRAM reads over TLS (verified against tls.ca_file) with
// SCRAM-SHA-512 authentication.
func TestTLSAndSCRAM(t *testing.T) {
	cert, caPEM := selfSigned(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "vpcflow", "s3cret"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.SASL(scram.Auth{User: "vpcflow", Pass: "s3cret"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	kc := &cluster{t: t, c: c, addrs: c.ListenAddrs(), prod: prod}
	kc.produce(rec(0, line(0, 0)))

	cfg := testConfig(kc)
	cfg.TLS = TLSConfig{Enabled: true, CAFile: caFile}
	cfg.SASL = SASLConfig{Mechanism: "SCRAM-SHA-512", User: "vpcflow", Password: "s3cret"}
	s := newSource(t, cfg, "k", nil)
	rs := readRecords(t, s, 1)
	if got := string(rs[0].b.Records[0].Raw); got != line(0, 0) {
		t.Errorf("read %q", got)
	}
	ackAll(t, rs)
}

// TestMSKIAMRole signs AWS_MSK_IAM with the credentials of sasl.role_arn,
// assumed in sasl.region through the STS stand-in.
func TestMSKIAMRole(t *testing.T) {
	stsSrv := httptest.NewServer(ec2stub.NewSTS())
	t.Cleanup(stsSrv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDBASE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL_STS", stsSrv.URL)

	c := &SASLConfig{Mechanism: "AWS_MSK_IAM", Region: "eu-west-1", RoleARN: "arn:aws:iam::210987654321:role/msk"}
	mech, err := saslMechanism(context.Background(), c, component.Settings{ID: "in"})
	if err != nil {
		t.Fatal(err)
	}
	_, msg, err := mech.Authenticate(context.Background(), "b-1.msk.eu-west-1.amazonaws.com:9098")
	if err != nil {
		t.Fatal(err)
	}
	var first map[string]string
	if err := json.Unmarshal(msg, &first); err != nil {
		t.Fatalf("first message %q: %v", msg, err)
	}
	cred := first["x-amz-credential"]
	if !strings.HasPrefix(cred, ec2stub.AccessKeyFor("210987654321")+"/") || !strings.Contains(cred, "/eu-west-1/") {
		t.Errorf("signed with %q, want the assumed role's key in eu-west-1", cred)
	}
}
