#!/usr/bin/env bash
# End-to-end benchmark suite on one machine: builds vpcflow and the helper
# programs of benchmarks/suite/, starts local stand-ins (Kafka in its own
# process, an HTTP intake with an EC2 stand-in, S3+SQS, Kinesis when
# available), runs each scenario on a preloaded backlog until the intake
# (or the output file) has every record, and prints a table:
#
#   records/s         records delivered per second, first to last delivery
#   CPU-s/1M          user+sys seconds of the vpcflow process(es) per million records,
#                     whole run (/usr/bin/time) and steady (/proc, first to last delivery)
#   peak RSS          largest resident set of a vpcflow process (/usr/bin/time %M)
#   load              1-minute load average when the scenario ended (the box may be shared)
#
# and the p99 end-to-end latency of the Kafka pipeline at 80 % (and 50 %, 25 %) of
# its measured maximum rate, loadgen producing live records:
# vpcflow_pipeline_batch_latency_seconds (source
# read -> acknowledgement) between two scrapes of /metrics, quantile as
# Prometheus' histogram_quantile computes it.
#
#   bash benchmarks/suite.sh            # full suite, 3 to 5 minutes on 2 cores
#   QUICK=1 bash benchmarks/suite.sh    # smaller backlogs, about 2.5 minutes
#
# Kafka runs once with the ENI cache cold (filled on demand, as a new
# instance does) and otherwise with eni_enrich's warm_up, which describes the
# whole estate at start, so that the figures are the steady state.
#
# Environment: BENCH_OUT (work directory, default /tmp/vpcflow-suite),
# LATENCY_FRACTIONS (default "0.8 0.5 0.25", at most 3: fractions of the warm 1-instance maximum),
# SCENARIOS (space-separated subset of: file kafka scale latency s3_sqs kinesis),
# KAFKA_RECORDS, FILE_RECORDS, S3_RECORDS, KINESIS_RECORDS, LATENCY_SECONDS.
# Ports used on 127.0.0.1: 19092 (Kafka), 19380 (intake), 19381 (EC2),
# 19382-19383 (S3, SQS), 19391-19393 (vpcflow /metrics); kinesalite and
# dynalite on 4567/4568 (.ci/start-kinesalite.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick="${QUICK:-0}"
if [ "$quick" = 1 ]; then
	file_n="${FILE_RECORDS:-1000000}"; kafka_n="${KAFKA_RECORDS:-500000}"
	s3_n="${S3_RECORDS:-300000}"; kin_n="${KINESIS_RECORDS:-100000}"; lat_secs="${LATENCY_SECONDS:-8}"
else
	file_n="${FILE_RECORDS:-5000000}"; kafka_n="${KAFKA_RECORDS:-2000000}"
	s3_n="${S3_RECORDS:-1000000}"; kin_n="${KINESIS_RECORDS:-1000000}"; lat_secs="${LATENCY_SECONDS:-20}"
fi
scenarios=" ${SCENARIOS:-file kafka scale latency s3_sqs kinesis} "
want() { [[ "$scenarios" == *" $1 "* ]]; }

out="${BENCH_OUT:-/tmp/vpcflow-suite}"
mkdir -p "$out"
bin="$out/bin"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
echo "building into $bin" >&2
go build -o "$bin/" ./cmd/vpcflow ./benchmarks/suite/kfakeserver ./benchmarks/suite/intake \
	./benchmarks/suite/loadgen ./benchmarks/suite/histq ./benchmarks/suite/s3sqsserver ./benchmarks/suite/kinesisload

# Stand-ins talk AWS wire protocols with static credentials; nothing reaches AWS.
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 \
	AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

intake=127.0.0.1:19380
ec2=127.0.0.1:19381
broker=127.0.0.1:19092
enis=10000
seed=7
pids=()
VF_PIDS=()
cleanup() {
	for p in "${VF_PIDS[@]}" "${pids[@]}"; do [ -z "$p" ] || kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

load1() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
count() { curl -sf "http://$intake/count" | cut -d' ' -f1; }
reset_intake() { curl -sf -X POST "http://$intake/reset" >/dev/null; }

# wait_for CMD... : retry for up to 60 s.
wait_for() {
	for _ in $(seq 1 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "timed out waiting for: $*" >&2; return 1
}

rows=()
row() { # name records records/s cpu-s-per-1M steady-cpu rss-MB note
	local r
	r=$(printf '| %s | %s | %s | %s | %s | %s | %s | %s |' "$1" "$2" "$3" "$4" "$5" "$6" "$(load1)" "$7")
	rows+=("$r")
	echo "$r"
}

# timed NAME CONFIG: starts vpcflow under /usr/bin/time in the background;
# sets TIMED_PID (the time process).
timed() {
	/usr/bin/time -f '%e %U %S %M' -o "$out/$1.time" "$bin/vpcflow" run --config "$2" >"$out/$1.out" 2>"$out/$1.log" &
	TIMED_PID=$!
	local c=""
	for _ in $(seq 1 100); do c=$(pgrep -P "$TIMED_PID" || true); [ -n "$c" ] && break; sleep 0.05; done
	VF_PIDS+=("$c")
}
VF_PIDS=()
tck=$(getconf CLK_TCK)
# vf_alive: whether any started vpcflow process still runs.
vf_alive() {
	local p
	for p in "${VF_PIDS[@]}"; do [ -n "$p" ] && kill -0 "$p" 2>/dev/null && return 0; done
	return 1
}
# cpu_ticks: user+sys clock ticks of the running vpcflow processes.
cpu_ticks() {
	local p t=0 v
	for p in "${VF_PIDS[@]}"; do
		v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
		t=$((t + v))
	done
	echo "$t"
}

# stop_timed PID...: SIGTERM the vpcflow child of each time process, wait.
stop_timed() {
	local p c
	for p in "$@"; do
		c=$(pgrep -P "$p" || true)
		[ -n "$c" ] && kill -TERM "$c" 2>/dev/null || true
	done
	for p in "$@"; do wait "$p" || echo "vpcflow (time pid $p) exited with $?" >&2; done
	VF_PIDS=()
}

# usage NAME...: "<cpu-seconds> <max-rss-kB>" summed/maxed over time files.
usage() {
	local f
	for f in "$@"; do cat "$out/$f.time"; done | awk '{cpu += $2 + $3; if ($4 > rss) rss = $4} END {printf "%.2f %d\n", cpu, rss}'
}

# wait_delivered N TIMEOUT: waits until the intake counted N records; prints
# "<records> <first-ns> <last-ns>". Sets STEADY: CPU seconds per million
# records of the vpcflow processes between the first poll that saw
# deliveries and the end (start-up and ENI cache warm-up excluded).
wait_delivered() {
	local n=$1 limit=$2 start c c0=-1 k0=0 k
	start=$(date +%s)
	STEADY="-"
	while :; do
		read -r c _ _ first last < <(curl -sf "http://$intake/count")
		if [ "$c0" -lt 0 ] && [ "$c" -gt 0 ]; then c0=$c; k0=$(cpu_ticks); fi
		if [ "$c" -ge "$n" ] || [ $(($(date +%s) - start)) -ge "$limit" ] || ! vf_alive; then
			[ "$c" -ge "$n" ] || echo "only $c of $n records arrived (within ${limit}s, or vpcflow exited: see $out/*.log)" >&2
			k=$(cpu_ticks)
			if [ "$c0" -ge 0 ] && [ "$c" -gt "$c0" ]; then
				STEADY=$(awk -v k="$((k - k0))" -v t="$tck" -v n="$((c - c0))" 'BEGIN { printf "%.2f", k / t / (n / 1e6) }')
			fi
			echo "$c $first $last $STEADY"
			return
		fi
		sleep 0.2
	done
}

# report NAME RECORDS FIRST_NS LAST_NS STEADY NOTE TIMEFILES...
report() {
	local name=$1 n=$2 first=$3 last=$4 steady=$5 note=$6
	shift 6
	read -r cpu rss < <(usage "$@")
	row "$name" "$n" \
		"$(awk -v n="$n" -v a="$first" -v b="$last" 'BEGIN { printf "%.0f", n / ((b - a) / 1e9) }')" \
		"$(awk -v n="$n" -v c="$cpu" 'BEGIN { printf "%.2f", c / (n / 1e6) }')" "$steady" \
		"$(awk -v r="$rss" 'BEGIN { printf "%.0f", r / 1024 }')" "$note"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3-)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# ---------------------------------------------------------------- stand-ins
"$bin/intake" -addr "$intake" -ec2 "$ec2" -enis "$enis" -seed "$seed" 2>"$out/intake.log" &
pids+=($!)
wait_for curl -sf "http://$intake/count"

# eni_enrich keys that fill the ENI cache at start (DescribeNetworkInterfaces
# of the whole estate) instead of on demand (at most rate_limit 5 calls/s of
# 200 ids, so 10 s or more for 10,000 interfaces).
warm_eni="warm_up: {accounts: [default]}"

# A Kafka pipeline; $1 topic, $2 group, $3 metrics port, $4 extra eni_enrich keys.
kafka_config() {
	cat <<YAML
sources:
  flows:
    type: kafka
    brokers: ["$broker"]
    topic: $1
    group: $2
    start_from: earliest
stages:
  parse: {type: parse_flowlog, inputs: [flows], format: default}
  drop_internal: {type: cidr_filter, inputs: [parse], drop_when_both_in: ["10.255.0.0/16"]}
  eni: {type: eni_enrich, inputs: [drop_internal], endpoint: "http://$ec2", region: us-east-1${4:+, $4}}
  flow_metrics: {type: flow_metrics, inputs: [eni]}
sinks:
  intake:
    type: http
    inputs: [flow_metrics]
    url: "http://$intake/receiver/v1/http/bench"
    preset: sumologic
    encoding: sumo_vpc_json
    compression: gzip
telemetry: {listen: "127.0.0.1:$3", log_level: warn}
YAML
}

echo "| scenario | records | records/s | CPU-s per 1M (whole run) | CPU-s per 1M (steady) | peak RSS MB | load (1 min) | note |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"

# ------------------------------------------------- (a) file -> parse -> cidr -> json file
if want file; then
	flows="$out/flows-$file_n.log"
	[ -s "$flows" ] || "$bin/vpcflow" gen --count "$file_n" --enis "$enis" --seed "$seed" -o "$flows"
	cat >"$out/file.yaml" <<YAML
sources: {in: {type: file, path: "$flows"}}
stages:
  parse: {type: parse_flowlog, inputs: [in]}
  internal: {type: cidr_filter, inputs: [parse], drop_when_both_in: ["192.168.0.0/16"]}
sinks: {out: {type: file, inputs: [internal], path: "$out/file-out.json", encoding: json}}
YAML
	t0=$(date +%s%N)
	timed file "$out/file.yaml"
	wait "$TIMED_PID"
	VF_PIDS=()
	t1=$(date +%s%N)
	got=$(wc -l <"$out/file-out.json")
	rm -f "$out/file-out.json"
	report "file -> parse -> cidr_filter -> json file" "$got" "$t0" "$t1" "-" "whole run, process start to exit" file
fi

# ------------------------------------------------- Kafka stand-in with a preloaded backlog
need_kafka=0
for s in kafka scale latency; do want "$s" && need_kafka=1; done
if [ "$need_kafka" = 1 ]; then
	"$bin/kfakeserver" -port 19092 -partitions 6 -topics vpc-flow-logs,vpc-flow-live-1,vpc-flow-live-2,vpc-flow-live-3 \
		-preload "$kafka_n" -enis "$enis" -seed "$seed" >"$out/kfake.out" 2>"$out/kfake.log" &
	pids+=($!)
	wait_for_ready() { grep -q '^ready' "$out/kfake.out"; }
	for _ in $(seq 1 1800); do wait_for_ready && break; sleep 0.1; done
	wait_for_ready || { echo "kfakeserver did not get ready:" >&2; cat "$out/kfake.log" >&2; exit 1; }
	echo "kafka backlog: $(cat "$out/kfake.log")" >&2
fi

# run_kafka NAME INSTANCES [ENI-KEYS LABEL]: the backlog read by INSTANCES
# vpcflow processes in one group; ENI-KEYS are extra eni_enrich keys.
kafka_rate=0
run_kafka() {
	local name=$1 k=$2 eni_keys=${3:-} label=${4:-} i tps=() files=()
	reset_intake
	for i in $(seq 1 "$k"); do
		kafka_config vpc-flow-logs "$name" $((19390 + i)) "$eni_keys" >"$out/$name-$i.yaml"
	done
	for i in $(seq 1 "$k"); do
		timed "$name-$i" "$out/$name-$i.yaml"
		tps+=("$TIMED_PID")
		files+=("$name-$i")
	done
	read -r got first last steady < <(wait_delivered "$kafka_n" 300)
	stop_timed "${tps[@]}"
	report "kafka (6 partitions) -> parse -> cidr -> eni_enrich -> flow_metrics -> http, $k instance(s)$label" \
		"$got" "$first" "$last" "$steady" "first to last delivery" "${files[@]}"
	kafka_rate=$(awk -v n="$got" -v a="$first" -v b="$last" 'BEGIN { printf "%.0f", n / ((b - a) / 1e9) }')
}

if want kafka; then run_kafka kafka-1 1; fi
# The same with the ENI cache filled at start: the steady-state maximum,
# which the latency runs (also warm) take their rate from.
if want kafka || want latency; then run_kafka kafka-1w 1 "$warm_eni" ", ENI cache warmed at start"; fi
one_rate=$kafka_rate
if want scale; then
	run_kafka kafka-2w 2 "$warm_eni" ", ENI cache warmed at start"
	run_kafka kafka-3w 3 "$warm_eni" ", ENI cache warmed at start"
fi

# ------------------------------------------------- p99 latency at a fraction (0.8) of the 1-instance maximum
# measure_latency FRACTION [INDEX]: one vpcflow instance on the live topic,
# loadgen producing at FRACTION x the measured 1-instance rate; the batch
# latency histogram between two scrapes LATENCY_SECONDS apart, after a
# 5 s warm-up.
latency_lines=()
measure_latency() {
	local frac=$1 idx=$2 rate warm=5 produced achieved got q delivered c0 c1 t0 t1 lat_pid gen_pid name
	[ "$idx" -le 3 ] || { echo "at most 3 LATENCY_FRACTIONS" >&2; return 1; }
	name="latency-$idx"
	rate=$(awk -v r="$one_rate" -v f="$frac" 'BEGIN { printf "%.0f", r * f }')
	reset_intake
	kafka_config "vpc-flow-live-$idx" "$name" 19391 "$warm_eni" >"$out/$name.yaml"
	timed "$name" "$out/$name.yaml"
	lat_pid=$TIMED_PID
	wait_for curl -sf "http://127.0.0.1:19391/readyz"
	"$bin/loadgen" -brokers "$broker" -topic "vpc-flow-live-$idx" -rate "$rate" -duration "$((lat_secs + warm + 2))s" \
		-enis "$enis" -seed "$seed" >"$out/$name-loadgen.out" 2>"$out/$name-loadgen.log" &
	gen_pid=$!
	sleep "$warm"
	curl -sf "http://127.0.0.1:19391/metrics" >"$out/$name-before.txt"
	c0=$(count); t0=$(date +%s%N)
	sleep "$lat_secs"
	curl -sf "http://127.0.0.1:19391/metrics" >"$out/$name-after.txt"
	c1=$(count); t1=$(date +%s%N)
	wait "$gen_pid"
	read -r produced _ achieved <"$out/$name-loadgen.out"
	# everything produced must arrive before the instance is stopped
	read -r got _ _ < <(wait_delivered "$produced" 120)
	stop_timed "$lat_pid"
	q=$("$bin/histq" "$out/$name-before.txt" "$out/$name-after.txt" | sed 's/[a-z0-9]*=//g')
	delivered=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", (b - a) / ((t1 - t0) / 1e9) }')
	latency_lines+=("| $frac x ${one_rate}/s | ${rate}/s | ${achieved}/s | ${delivered}/s | ${q// / | } | $(load1) |")
	echo "${latency_lines[-1]}"
}

if want latency; then
	echo
	echo "| fraction of 1-instance max | target | produced | delivered (window) | batches | p50 s | p90 s | p99 s | load (1 min) |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	i=0
	for frac in ${LATENCY_FRACTIONS:-0.8 0.5 0.25}; do
		i=$((i + 1))
		measure_latency "$frac" "$i"
	done
fi

# ------------------------------------------------- (d) s3_sqs: gofakes3 + goaws in one process
if want s3_sqs; then
	"$bin/s3sqsserver" -s3 127.0.0.1:19382 -sqs 127.0.0.1:19383 -records "$s3_n" -per-object 50000 \
		-enis "$enis" -seed "$seed" >"$out/s3sqs.out" 2>"$out/s3sqs.log" &
	s3_pid=$!
	pids+=("$s3_pid")
	for _ in $(seq 1 1800); do grep -q '^ready' "$out/s3sqs.out" && break; sleep 0.1; done
	if grep -q '^ready' "$out/s3sqs.out"; then
		read -r _ queue <"$out/s3sqs.out"
		cat >"$out/s3.yaml" <<YAML
sources:
  flows:
    type: s3_sqs
    queue_url: "$queue"
    region: us-east-1
    sqs_endpoint: "http://127.0.0.1:19383"
    s3_endpoint: "http://127.0.0.1:19382"
    force_path_style: true
    wait_time: 1s
stages:
  parse: {type: parse_flowlog, inputs: [flows], format: auto}
  drop_internal: {type: cidr_filter, inputs: [parse], drop_when_both_in: ["10.255.0.0/16"]}
  eni: {type: eni_enrich, inputs: [drop_internal], endpoint: "http://$ec2", region: us-east-1, $warm_eni}
  flow_metrics: {type: flow_metrics, inputs: [eni]}
sinks:
  intake:
    type: http
    inputs: [flow_metrics]
    url: "http://$intake/receiver/v1/http/bench"
    preset: sumologic
    encoding: sumo_vpc_json
    compression: gzip
telemetry: {listen: "127.0.0.1:19391", log_level: warn}
YAML
		reset_intake
		timed s3 "$out/s3.yaml"
		tp=$TIMED_PID
		read -r got first last steady < <(wait_delivered "$s3_n" 300)
		stop_timed "$tp"
		report "s3_sqs (gzip text objects of 50k lines; gofakes3 + goaws) -> same graph -> http, ENI cache warmed at start" "$got" "$first" "$last" "$steady" \
			"first to last delivery; S3/SQS stand-ins share the 2 cores" s3
	else
		echo "s3sqsserver did not get ready: $(cat "$out/s3sqs.log")" >&2
		row "s3_sqs" "-" "-" "-" "-" "-" "not measured: stand-in did not start"
	fi
	kill "$s3_pid" 2>/dev/null || true
fi

# ------------------------------------------------- (d) kinesis: kinesalite + dynalite (Node.js)
if want kinesis; then
	if env_lines=$(bash .ci/start-kinesalite.sh 2>"$out/kinesalite-start.log"); then
		eval "$env_lines"
		stream="vpcflow-bench-$(date +%s)"
		if "$bin/kinesisload" -endpoint "$VPCFLOW_KINESIS_ENDPOINT" -stream "$stream" -shards 4 -records "$kin_n" \
			-enis "$enis" -seed "$seed" >"$out/kinesisload.out" 2>"$out/kinesisload.log"; then
			cat >"$out/kinesis.yaml" <<YAML
sources:
  flows:
    type: kinesis
    stream: $stream
    lease_table: $stream-leases
    start_from: trim_horizon
    payload: auto
    region: us-east-1
    endpoint: "$VPCFLOW_KINESIS_ENDPOINT"
    dynamodb_endpoint: "$VPCFLOW_DYNAMODB_ENDPOINT"
stages:
  parse: {type: parse_flowlog, inputs: [flows], format: default}
  drop_internal: {type: cidr_filter, inputs: [parse], drop_when_both_in: ["10.255.0.0/16"]}
  eni: {type: eni_enrich, inputs: [drop_internal], endpoint: "http://$ec2", region: us-east-1, $warm_eni}
  flow_metrics: {type: flow_metrics, inputs: [eni]}
sinks:
  intake:
    type: http
    inputs: [flow_metrics]
    url: "http://$intake/receiver/v1/http/bench"
    preset: sumologic
    encoding: sumo_vpc_json
    compression: gzip
telemetry: {listen: "127.0.0.1:19391", log_level: warn}
YAML
			reset_intake
			timed kinesis "$out/kinesis.yaml"
			tp=$TIMED_PID
			read -r got first last steady < <(wait_delivered "$kin_n" 300)
			stop_timed "$tp"
			report "kinesis (4 shards, CloudWatch Logs envelopes of 100 lines; kinesalite) -> same graph -> http, ENI cache warmed at start" "$got" "$first" "$last" "$steady" \
				"first to last delivery; kinesalite (Node.js) shares the 2 cores" kinesis
		else
			echo "kinesis preload failed: $(tail -3 "$out/kinesisload.log")" >&2
			row "kinesis" "-" "-" "-" "-" "-" "not measured: preload into kinesalite failed"
		fi
	else
		row "kinesis" "-" "-" "-" "-" "-" "not measured: kinesalite/dynalite did not start (needs node and npm)"
	fi
fi

echo
echo "| scenario | records | records/s | CPU-s per 1M (whole run) | CPU-s per 1M (steady) | peak RSS MB | load (1 min) | note |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
printf '%s\n' "${rows[@]}"
if [ "${#latency_lines[@]}" -gt 0 ]; then
	echo
	echo "p99 end-to-end latency, kafka pipeline, 1 instance, ENI cache warmed at start: vpcflow_pipeline_batch_latency_seconds (source read -> acknowledgement), ${lat_secs} s window, rate a fraction of the warm 1-instance maximum"
	echo
	echo "| fraction of 1-instance max | target | produced | delivered (window) | batches | p50 s | p90 s | p99 s | load (1 min) |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	printf '%s\n' "${latency_lines[@]}"
fi
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
