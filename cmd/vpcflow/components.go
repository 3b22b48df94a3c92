package main

import (
	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/sinks"
	"github.com/vpcflow/vpcflow/sinks/filesink"
	"github.com/vpcflow/vpcflow/sources"
	"github.com/vpcflow/vpcflow/sources/filesource"
)

// factories lists every component the binary knows, explicitly.
func factories() processor.Factories {
	return processor.NewFactories(
		[]sources.Factory{
			filesource.NewFactory(),
		},
		[]processor.StageFactory{},
		[]sinks.Factory{
			filesink.NewFactory(),
		},
	)
}
