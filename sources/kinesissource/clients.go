package kinesissource

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/vpcflow/vpcflow/internal/awsconf"
	"github.com/vpcflow/vpcflow/processor/component"
)

// kinesisAPI is the part of the Kinesis client the source uses.
type kinesisAPI interface {
	ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(context.Context, *kinesis.GetShardIteratorInput, ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(context.Context, *kinesis.GetRecordsInput, ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

var (
	_ kinesisAPI = (*kinesis.Client)(nil)
	_ dynamoAPI  = (*dynamodb.Client)(nil)
)

// newClients builds the Kinesis and DynamoDB clients from the SDK's default
// configuration chain (environment, shared files, web identity, instance
// and task roles; AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_KINESIS and
// AWS_ENDPOINT_URL_DYNAMODB apply), then the file's region, endpoint,
// dynamodb_endpoint and role_arn (assumed as session "vpcflow-<id>").
func newClients(ctx context.Context, cfg *Config, set component.Settings) (*kinesis.Client, *dynamodb.Client, error) {
	awsCfg, err := awsconf.Load(ctx, awsconf.Options{Region: cfg.Region, RoleARN: cfg.RoleARN, ID: set.ID, Logger: set.Logger})
	if err != nil {
		return nil, nil, err
	}
	kin := kinesis.NewFromConfig(awsCfg, func(o *kinesis.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = awsconf.Endpoint(cfg.Endpoint)
		}
	})
	ddb := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if cfg.DynamoDBEndpoint != "" {
			o.BaseEndpoint = awsconf.Endpoint(cfg.DynamoDBEndpoint)
		}
	})
	return kin, ddb, nil
}
