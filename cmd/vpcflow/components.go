package main

import (
	"github.com/vpcflow/vpcflow/enrich/eni"
	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/cidrfilter"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowmetrics"
	"github.com/vpcflow/vpcflow/processor/parse"
	"github.com/vpcflow/vpcflow/processor/streamfilter"
	"github.com/vpcflow/vpcflow/sinks/filesink"
	"github.com/vpcflow/vpcflow/sinks/httpsink"
	"github.com/vpcflow/vpcflow/sources/filesource"
	"github.com/vpcflow/vpcflow/sources/kafkasource"
	"github.com/vpcflow/vpcflow/sources/kinesissource"
	"github.com/vpcflow/vpcflow/sources/s3sqssource"
)

// factories lists every component the binary knows, explicitly.
func factories() processor.Factories {
	return processor.NewFactories(
		[]component.SourceFactory{
			filesource.NewFactory(),
			kafkasource.NewFactory(),
			kinesissource.NewFactory(),
			s3sqssource.NewFactory(),
		},
		[]component.StageFactory{
			parse.NewFactory(),
			cidrfilter.NewFactory(),
			eni.NewFactory(),
			flowmetrics.NewFactory(),
			streamfilter.NewFactory(),
		},
		[]component.SinkFactory{
			filesink.NewFactory(),
			httpsink.NewFactory(),
		},
	)
}
