package awsconf

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
)

func TestSessionName(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{"", "vpcflow"},
		{"flows", "vpcflow-flows"},
		{"in_1.a@b", "vpcflow-in_1.a@b"},
		{"a b/c:d", "vpcflow-a-b-c-d"},
		{"é", "vpcflow--"},
		{strings.Repeat("x", 100), "vpcflow-" + strings.Repeat("x", 56)},
	} {
		if got := SessionName(tc.id); got != tc.want {
			t.Errorf("SessionName(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
}

func TestLoad(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")

	cfg, err := Load(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" {
		t.Errorf("region = %q, want AWS_REGION's eu-west-1", cfg.Region)
	}
	cfg, err = Load(context.Background(), Options{Region: "us-east-2", RoleARN: "arn:aws:iam::123456789012:role/r", ID: "in"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "us-east-2" {
		t.Errorf("region = %q, want the file's us-east-2", cfg.Region)
	}
	if !aws.IsCredentialsProvider(cfg.Credentials, (*stscreds.AssumeRoleProvider)(nil)) {
		t.Errorf("credentials %T do not assume the role", cfg.Credentials)
	}
}

func TestEndpoint(t *testing.T) {
	if Endpoint("") != nil {
		t.Error("empty endpoint must leave the chain's")
	}
	if e := Endpoint("http://127.0.0.1:4566"); e == nil || *e != "http://127.0.0.1:4566" {
		t.Errorf("Endpoint = %v", e)
	}
}
