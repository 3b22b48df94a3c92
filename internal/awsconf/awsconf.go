// Package awsconf builds the AWS configuration every vpcflow component
// uses, in one way.
//
// A configuration starts from the SDK's default chain (environment, shared
// config and credentials files, web identity / IRSA, instance and task
// roles), so AWS_REGION, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>
// apply with no switch of the project's own. On top of it a component may
// set a region and a role to assume; endpoints are set per client with
// Endpoint.
//
// # Logs
//
// The SDK writes its own log lines (such as S3's "Response has no supported
// checksum" on every ranged GET) to stderr by default. A configuration from
// Load writes them to the component's slog logger instead, at debug level,
// so nothing unstructured reaches stderr.
//
// # Role sessions
//
// A role is assumed under the session name "vpcflow-<component id>"
// (SessionName), so CloudTrail tells which component of which pipeline made
// a call. Characters STS does not accept in a session name become '-', and
// the name is cut to 64 characters.
package awsconf

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
)

// Options are what a component's file adds to the default chain.
type Options struct {
	// Region overrides the chain's region when set.
	Region string
	// DefaultRegion is used when neither Region nor the chain names one.
	DefaultRegion string
	// RoleARN, when set, is assumed (STS AssumeRole) with the chain's
	// credentials; the session is named SessionName(ID).
	RoleARN string
	// ID is the component's id in the config file.
	ID string
	// STSEndpoint overrides the STS endpoint used to assume RoleARN
	// (AWS_ENDPOINT_URL_STS does too).
	STSEndpoint string
	// Logger receives the SDK's log lines at debug level; nil discards them.
	Logger *slog.Logger
	// Load are further options for config.LoadDefaultConfig (credentials
	// or an HTTP client of a program that embeds a component). Region
	// still takes precedence.
	Load []func(*config.LoadOptions) error
}

// Load returns the default chain's configuration with o applied.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	load := []func(*config.LoadOptions) error{config.WithLogger(Logger(o.Logger))}
	load = append(load, o.Load...)
	if o.Region != "" {
		load = append(load, config.WithRegion(o.Region))
	}
	if o.DefaultRegion != "" {
		load = append(load, config.WithDefaultRegion(o.DefaultRegion))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if o.RoleARN != "" {
		cfg.Credentials = AssumeRole(cfg, o.RoleARN, o.ID, func(so *sts.Options) {
			if o.STSEndpoint != "" {
				so.BaseEndpoint = Endpoint(o.STSEndpoint)
			}
		})
	}
	return cfg, nil
}

// AssumeRole returns cached credentials of roleARN, assumed with cfg's
// credentials under the session name SessionName(id). stsOpts adjust the
// STS client (region, endpoint).
func AssumeRole(cfg aws.Config, roleARN, id string, stsOpts ...func(*sts.Options)) aws.CredentialsProvider {
	stsc := sts.NewFromConfig(cfg, stsOpts...)
	return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = SessionName(id)
	}))
}

// SessionName is the AssumeRole session name of component id:
// "vpcflow-<id>", with characters outside STS's [A-Za-z0-9+=,.@_-] replaced
// by '-' and cut to STS's 64 characters.
func SessionName(id string) string {
	name := "vpcflow"
	if id != "" {
		name += "-" + strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
				return r
			case strings.ContainsRune("+=,.@_-", r):
				return r
			}
			return '-'
		}, id)
	}
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

// Endpoint returns a client's BaseEndpoint for a configured endpoint, nil
// when e is empty. Set it only when e is not empty: assigning nil would
// drop what AWS_ENDPOINT_URL_<SERVICE> set.
func Endpoint(e string) *string {
	if e == "" {
		return nil
	}
	return aws.String(e)
}

// Logger adapts l (nil: discard) to the SDK's logger: every line is logged
// at debug level, with the SDK's classification as "sdk_level".
func Logger(l *slog.Logger) logging.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return sdkLogger{l}
}

type sdkLogger struct{ l *slog.Logger }

func (s sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	ctx := context.Background()
	if !s.l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	s.l.LogAttrs(ctx, slog.LevelDebug, "aws sdk: "+fmt.Sprintf(format, v...), slog.String("sdk_level", string(c)))
}
