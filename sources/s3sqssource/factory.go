package s3sqssource

import (
	"context"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/vpcflow/vpcflow/internal/awsconf"
	"github.com/vpcflow/vpcflow/processor/component"
)

// Type is the value of the `type:` key that selects this source.
const Type = "s3_sqs"

// NewFactory returns the factory of the s3_sqs source.
func NewFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:             Type,
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(ctx context.Context, cfg any, set component.Settings) (component.Source, error) {
			c, err := component.ConfigAs[Config](Type, cfg)
			if err != nil {
				return nil, err
			}
			return New(ctx, c, set)
		},
	}
}

// New builds the source and its SQS and S3 clients from the SDK's default
// configuration chain (environment, shared files, web identity, instance
// and task roles; AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS and
// AWS_ENDPOINT_URL_S3 are honoured), then region, endpoints and role_arn
// from cfg. Nothing is called until Start or the first Read.
func New(ctx context.Context, cfg *Config, set component.Settings) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	awsCfg, err := awsconf.Load(ctx, awsconf.Options{Region: cfg.Region, DefaultRegion: regionFromQueueURL(cfg.QueueURL), RoleARN: cfg.RoleARN, ID: set.ID, Logger: set.Logger})
	if err != nil {
		return nil, err
	}
	sqsEndpoint, s3Endpoint := firstNonEmpty(cfg.SQSEndpoint, cfg.Endpoint), firstNonEmpty(cfg.S3Endpoint, cfg.Endpoint)
	sq := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if sqsEndpoint != "" {
			o.BaseEndpoint = awsconf.Endpoint(sqsEndpoint)
		}
	})
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = cfg.ForcePathStyle
		// Ranged GETs of Parquet objects carry no whole-object checksum;
		// the SDK would log that it skips validation on every one.
		o.DisableLogOutputChecksumValidationSkipped = true
		if s3Endpoint != "" {
			o.BaseEndpoint = awsconf.Endpoint(s3Endpoint)
		}
	})
	return newSource(cfg, set, sq, s3c)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// regionFromQueueURL returns the region named by a queue URL's host
// (sqs.eu-west-1.amazonaws.com, eu-west-1.queue.amazonaws.com), or "".
func regionFromQueueURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	labels := strings.Split(pu.Hostname(), ".")
	for i, l := range labels {
		if l == "sqs" && i+1 < len(labels) && isRegion(labels[i+1]) {
			return labels[i+1]
		}
		if l == "queue" && i > 0 && isRegion(labels[i-1]) {
			return labels[i-1]
		}
	}
	return ""
}
