// Package layering holds the test that keeps vpcflow's floor plan: plug-ins
// (sources, stages, sinks, enrichment) build against processor/component
// and processor/flowlog only, never against the engine, and the engine
// knows no plug-in. Only cmd/ and benchmarks/ put them together.
package layering
