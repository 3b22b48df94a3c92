package eni

import "github.com/aws/aws-sdk-go-v2/config"

// Opt adjusts how New builds the stage beyond the file's keys, for programs
// that embed the stage (such as `vpcflow dev`, which points it at a local
// EC2 stand-in with dummy credentials).
type Opt interface{ apply(*options) }

type options struct {
	load []func(*config.LoadOptions) error
}

type optFunc func(*options)

func (f optFunc) apply(o *options) { f(o) }

// AWSLoadOptions adds options to the SDK's config.LoadDefaultConfig call,
// e.g. config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(…))
// or config.WithHTTPClient. The file's region still takes precedence.
func AWSLoadOptions(fns ...func(*config.LoadOptions) error) Opt {
	return optFunc(func(o *options) { o.load = append(o.load, fns...) })
}
