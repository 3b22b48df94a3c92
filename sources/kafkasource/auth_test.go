package kafkasource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/vpcflow/vpcflow/enrich/eni/ec2stub"
	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/component"
)

// TestTLSAndSCRAM reads over TLS (verified against tls.ca_file) with
// SCRAM-SHA-512 authentication.
func TestTLSAndSCRAM(t *testing.T) {
	cert, caPEM := testkit.SelfSigned(t)
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
