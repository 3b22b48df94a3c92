package grafana

const pj = `job=~"$job"`

// pipelineHealth shows vpcflow itself: throughput per source, stage and
// sink, lag, errors, the ENI cache and EC2, sink latency and retries.
func pipelineHealth() *Dashboard {
	b := &builder{}
	b.row("Now")
	b.stat("Records in /s", "Records read by every source.", "cps", nil,
		q{`sum(rate(vpcflow_source_records_in_total{` + pj + `}[$__rate_interval]))`, ""})
	b.stat("Delivered /s", "Records delivered by every sink.", "cps", nil,
		q{`sum(rate(vpcflow_sink_records_delivered_total{` + pj + `}[$__rate_interval]))`, ""})
	b.stat("Lag (records)", "Kafka: high watermark minus committed offset, summed over partitions.", "short", steps(1e5, 1e6),
		q{`sum(max by (job, source, partition) (vpcflow_source_lag_records{` + pj + `}))`, ""})
	b.stat("Lag (seconds)", "Kinesis: MillisBehindLatest; S3+SQS: age of the oldest unprocessed event. The worst partition.", "s", steps(120, 900),
		q{`max(vpcflow_source_lag_seconds{` + pj + `})`, ""})
	b.stat("Batches in flight", "Batches read and not yet acknowledged.", "short", nil,
		q{`sum(vpcflow_pipeline_batches_in_flight{` + pj + `})`, ""})
	b.stat("Failed or dead-lettered", "Records that sinks failed permanently or sent to a dead_letter sink in the time range.", "short", steps(1, 1000),
		q{`sum(increase(vpcflow_sink_records_failed_total{` + pj + `}[$__range])) + sum(increase(vpcflow_sink_records_dead_lettered_total{` + pj + `}[$__range]))`, ""})

	b.row("Throughput")
	b.timeseries("Source records in", "", "cps", 8, true,
		q{`sum by (source) (rate(vpcflow_source_records_in_total{` + pj + `}[$__rate_interval]))`, "{{source}}"})
	b.timeseries("Stage records in and out", "A stage's out below its in is what it dropped or failed.", "cps", 8, false,
		q{`sum by (stage) (rate(vpcflow_stage_records_in_total{` + pj + `}[$__rate_interval]))`, "{{stage}} in"},
		q{`sum by (stage) (rate(vpcflow_stage_records_out_total{` + pj + `}[$__rate_interval]))`, "{{stage}} out"})
	b.timeseries("Sink records delivered", "", "cps", 8, true,
		q{`sum by (sink) (rate(vpcflow_sink_records_delivered_total{` + pj + `}[$__rate_interval]))`, "{{sink}}"})

	b.row("Lag")
	b.timeseries("Lag in records by source", "Kafka sources. Each partition counted once, whichever replica reports it.", "short", 8, true,
		q{`sum by (source) (max by (job, source, partition) (vpcflow_source_lag_records{` + pj + `}))`, "{{source}}"})
	b.timeseries("Lag in seconds by source", "Kinesis and S3+SQS sources: the worst partition.", "s", 8, false,
		q{`max by (source) (vpcflow_source_lag_seconds{` + pj + `})`, "{{source}}"})
	b.timeseries("SQS messages waiting", "Visible messages in the queue of S3+SQS sources.", "short", 8, false,
		q{`max by (source) (vpcflow_source_queue_messages{` + pj + `})`, "{{source}}"})
	b.timeseries("Replicas", "Replicas exporting metrics: scale-out follows the lag.", "short", 8, false,
		q{`count(up{` + pj + `} == 1)`, "replicas"})
	b.timeseries("End-to-end batch latency", "From a source reading a batch to its acknowledgement.", "s", 16, false,
		q{`histogram_quantile(0.5, sum by (le) (rate(vpcflow_pipeline_batch_latency_seconds_bucket{` + pj + `}[$__rate_interval])))`, "p50"},
		q{`histogram_quantile(0.99, sum by (le) (rate(vpcflow_pipeline_batch_latency_seconds_bucket{` + pj + `}[$__rate_interval])))`, "p99"})

	b.row("Errors")
	b.timeseries("Records dropped and failed by stage", "Dropped: on purpose (filters, header lines). Failed: sent to the stage's .errors output.", "cps", 8, false,
		q{`sum by (stage) (rate(vpcflow_stage_records_dropped_total{` + pj + `}[$__rate_interval]))`, "{{stage}} dropped"},
		q{`sum by (stage) (rate(vpcflow_stage_records_failed_total{` + pj + `}[$__rate_interval]))`, "{{stage}} failed"})
	b.timeseries("Parse errors by reason", "", "cps", 8, true,
		q{`sum by (stage, reason) (rate(vpcflow_parse_errors_total{` + pj + `}[$__rate_interval]))`, "{{stage}} {{reason}}"})
	b.timeseries("Undecodable inputs", "Corrupt gzip members, unknown envelopes.", "cps", 8, false,
		q{`sum by (source) (rate(vpcflow_source_inputs_failed_total{` + pj + `}[$__rate_interval]))`, "{{source}}"},
		q{`sum by (component) (rate(vpcflow_errors_discarded_total{` + pj + `}[$__rate_interval]))`, "{{component}} discarded"})

	b.row("ENI enrichment")
	b.timeseries("ENI cache hit ratio", "", "percentunit", 8, false,
		q{`sum by (stage) (rate(vpcflow_eni_cache_hits_total{` + pj + `}[$__rate_interval])) / (sum by (stage) (rate(vpcflow_eni_cache_hits_total{` + pj + `}[$__rate_interval])) + sum by (stage) (rate(vpcflow_eni_cache_misses_total{` + pj + `}[$__rate_interval])))`, "{{stage}}"})
	b.timeseries("EC2 DescribeNetworkInterfaces calls", "By outcome; throttles are also counted on their own.", "reqps", 8, true,
		q{`sum by (outcome) (rate(vpcflow_eni_ec2_calls_total{` + pj + `}[$__rate_interval]))`, "{{outcome}}"},
		q{`sum(rate(vpcflow_eni_ec2_throttles_total{` + pj + `}[$__rate_interval]))`, "throttled"})
	b.timeseries("ENI cache size and evictions", "", "short", 8, false,
		q{`sum by (stage, kind) (vpcflow_eni_cache_size{` + pj + `})`, "{{stage}} {{kind}}"},
		q{`sum by (stage) (rate(vpcflow_eni_cache_evictions_total{` + pj + `}[$__rate_interval]))`, "{{stage}} evictions/s"})

	b.row("Sinks")
	b.timeseries("HTTP request latency", "One attempt, until the collector's answer is read.", "s", 8, false,
		q{`histogram_quantile(0.5, sum by (sink, le) (rate(vpcflow_sink_http_request_duration_seconds_bucket{` + pj + `}[$__rate_interval])))`, "{{sink}} p50"},
		q{`histogram_quantile(0.99, sum by (sink, le) (rate(vpcflow_sink_http_request_duration_seconds_bucket{` + pj + `}[$__rate_interval])))`, "{{sink}} p99"})
	b.timeseries("Sink write latency", "From handing a batch to a sink to its delivery, retries included.", "s", 8, false,
		q{`histogram_quantile(0.99, sum by (sink, le) (rate(vpcflow_sink_write_duration_seconds_bucket{` + pj + `}[$__rate_interval])))`, "{{sink}} p99"})
	b.timeseries("Retries", "HTTP attempts retried by class (4xx = 401, 403, 404, 408, 429…, 5xx, network), and batch writes the engine retried.", "reqps", 8, true,
		q{`sum by (sink, class) (rate(vpcflow_sink_http_retries_total{` + pj + `}[$__rate_interval]))`, "{{sink}} {{class}}"},
		q{`sum by (sink) (rate(vpcflow_sink_write_retries_total{` + pj + `}[$__rate_interval]))`, "{{sink}} write"})
	b.timeseries("Failed and dead-lettered records", "Failed: lost (no dead_letter sink). Dead-lettered: kept by the dead_letter sink.", "cps", 12, false,
		q{`sum by (sink) (rate(vpcflow_sink_records_failed_total{` + pj + `}[$__rate_interval]))`, "{{sink}} failed"},
		q{`sum by (sink) (rate(vpcflow_sink_records_dead_lettered_total{` + pj + `}[$__rate_interval]))`, "{{sink}} dead-lettered"})
	b.timeseries("Bytes sent to collectors", "Compressed request bodies, every attempt counted.", "Bps", 12, true,
		q{`sum by (sink) (rate(vpcflow_sink_http_sent_bytes_total{` + pj + `}[$__rate_interval]))`, "{{sink}}"})

	b.row("Sink buffers")
	b.timeseries("Buffer fill", "Bytes held by each sink's buffer over its max_bytes. At 100 % a full buffer blocks every sink (when_full: block) or drops the newest records (drop_newest). Alert: VpcflowSinkBufferFilling above 80 %.", "percentunit", 8, false,
		q{`max by (sink) (vpcflow_sink_buffer_bytes{` + pj + `} / vpcflow_sink_buffer_max_bytes{` + pj + `})`, "{{sink}}"})
	b.timeseries("Records waiting in buffers", "Records acknowledged to the source (disk) or absorbed (memory) and not yet delivered by their sink.", "short", 8, true,
		q{`sum by (sink) (vpcflow_sink_buffer_records{` + pj + `})`, "{{sink}}"})
	b.timeseries("Oldest buffered record", "How late the sink's destination is. Alert: VpcflowSinkBufferStale above 15 minutes.", "s", 8, false,
		q{`max by (sink) (vpcflow_sink_buffer_oldest_seconds{` + pj + `})`, "{{sink}}"},
		q{`sum by (sink) (rate(vpcflow_sink_buffer_dropped_records_total{` + pj + `}[$__rate_interval]))`, "{{sink}} dropped/s"})

	b.row("Process")
	b.timeseries("CPU", "", "percentunit", 8, false,
		q{`sum by (pod, instance) (rate(process_cpu_seconds_total{` + pj + `}[$__rate_interval]))`, "{{pod}}{{instance}}"})
	b.timeseries("Resident memory", "", "bytes", 8, false,
		q{`sum by (pod, instance) (process_resident_memory_bytes{` + pj + `})`, "{{pod}}{{instance}}"})
	b.timeseries("Goroutines", "", "short", 8, false,
		q{`sum by (pod, instance) (go_goroutines{` + pj + `})`, "{{pod}}{{instance}}"})

	vars := []Variable{datasourceVar(), queryVar("job", "Deployment", "label_values(vpcflow_source_records_in_total, job)")}
	return newDashboard("vpcflow-pipeline-health", "vpcflow - Pipeline Health",
		"Throughput, lag, errors, ENI cache and sink latency of vpcflow deployments.",
		[]string{"pipeline"}, vars, b.panels)
}
