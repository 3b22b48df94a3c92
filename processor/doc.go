// Package processor is the engine: it reads the pipeline file, builds the
// graph of sources, stages and sinks from the factories it is given, and
// moves batches through it with at-least-once acknowledgement. The
// contracts the components implement live in processor/component, the
// record and batch in processor/flowlog; this package imports no source,
// stage or sink.
//
// One concern a file:
//
//   - config.go, keys.go: the YAML file, ${ENV} substitution, unknown keys.
//   - graph.go: factories, per-component config decoding, graph checks
//     (inputs, dead letters, cycles) and Validate.
//   - pipeline.go: Settings, Pipeline and the nodes it is made of.
//   - build.go: Build creates sinks, stages, then sources, and unrolls each
//     source's graph into a plan.
//   - run.go: Run starts the components, reads with backpressure (an
//     in-flight slot per batch), drains on shutdown and closes everything.
//   - tracker.go: the per-batch countdown that acks (or nacks) a source
//     batch once its last delivery ends.
//   - route.go: workers run a batch's stages (retrying a failing stage
//     with backoff), route .errors outputs (logging those no sink takes)
//     and fan out to children and sinks.
//   - deliver.go: sink writes with retries and backoff; records a
//     destination refused go alone to the dead letter (in its own lanes),
//     or on_rejected block|drop applies; ordered lanes.
//   - buffer.go: sink buffers (`buffer:`): puts, the drain, their gauges.
//     spool.go: the buffer of a sink that stores its own requests
//     (component.Spooler): puts, refused records, Send.
//   - blocked.go: on_rejected values and vpcflow_sink_blocked.
//   - health.go: Ready and Healthy (/readyz, /healthz).
//   - tap.go: taps (vpcflow tap), copies of a sample of what leaves a
//     source or stage, or its .errors, on a bounded channel; with no tap
//     open, one atomic load per batch. describe.go: Graph, the components
//     in order (vpcflow top).
//   - metrics.go: the engine's Prometheus collectors.
//
// Errors of a component are wrapped once, as "sources.<id> (<type>): …",
// "stages.<id> (<type>): …" or "sinks.<id> (<type>): …".
package processor
