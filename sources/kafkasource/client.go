package kafkasource

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	awssasl "github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/vpcflow/vpcflow/internal/awsconf"
	"github.com/vpcflow/vpcflow/internal/tlsconf"
	"github.com/vpcflow/vpcflow/processor/component"
)

// connOpts returns the client options for the connection: brokers, client
// id, TLS and SASL.
func connOpts(ctx context.Context, c *Config, set component.Settings) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ClientID(c.ClientID)}
	if c.TLS.Enabled {
		tc, err := tlsconf.New(tlsconf.Options{
			CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile,
			ServerName: c.TLS.ServerName, InsecureSkipVerify: c.TLS.InsecureSkipVerify,
		})
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	mech, err := saslMechanism(ctx, &c.SASL, set)
	if err != nil {
		return nil, err
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

func saslMechanism(ctx context.Context, c *SASLConfig, set component.Settings) (sasl.Mechanism, error) {
	switch c.Mechanism {
	case "":
		return nil, nil
	case "PLAIN":
		return plain.Auth{User: c.User, Pass: c.Password}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha512Mechanism(), nil
	case "AWS_MSK_IAM":
		awsCfg, err := awsconf.Load(ctx, awsconf.Options{Region: c.Region, RoleARN: c.RoleARN, ID: set.ID, Logger: set.Logger})
		if err != nil {
			return nil, fmt.Errorf("sasl AWS_MSK_IAM: %w", err)
		}
		if awsCfg.Credentials == nil {
			return nil, errors.New("sasl AWS_MSK_IAM: no AWS credentials provider")
		}
		return awssasl.ManagedStreamingIAM(func(ctx context.Context) (awssasl.Auth, error) {
			creds, err := awsCfg.Credentials.Retrieve(ctx)
			if err != nil {
				return awssasl.Auth{}, fmt.Errorf("retrieve AWS credentials: %w", err)
			}
			return awssasl.Auth{
				AccessKey:    creds.AccessKeyID,
				SecretKey:    creds.SecretAccessKey,
				SessionToken: creds.SessionToken,
			}, nil
		}), nil
	}
	return nil, fmt.Errorf("sasl.mechanism %q is not supported", c.Mechanism)
}
