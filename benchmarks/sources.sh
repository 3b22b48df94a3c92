#!/usr/bin/env bash
# The Sumo job from every way in: the same N flow-log lines read from a file,
# from Kafka, from Kinesis and from S3/SQS, each through
#
#   parse_flowlog -> cidr_filter -> eni_enrich (cache warmed at start)
#     -> http (sumo_vpc_json, gzip) into a local intake
#
# with default source settings. Every stand-in (kfake, kinesalite + dynalite,
# gofakes3 + goaws, the HTTP intake with its EC2 stand-in) runs in its own
# process; only vpcflow's CPU is charged to the source, the stand-in's is
# printed next to it. Columns:
#
#   CPU-s per 1M   user+sys seconds of the vpcflow process (/usr/bin/time), whole
#                  run (start-up and ENI warm-up included), per million records
#   x file         that figure over the file source's in the same invocation
#   steady         the same from the first delivery to the last (/proc; start-up,
#                  ENI warm-up and the first reads excluded)
#   peak RSS       largest resident set of vpcflow (/usr/bin/time %M)
#   stand-in CPU-s user+sys seconds of the broker/emulator during the run (/proc)
#
#   bash benchmarks/sources.sh                    # file kafka kinesis s3_sqs, 2M lines
#   N=2000000 SOURCES="file kafka" REPEAT=3 bash benchmarks/sources.sh
#   VPCFLOW_BIN=/tmp/old/vpcflow bash benchmarks/sources.sh   # A/B another build
#
# Environment: N (lines, default 2000000), SOURCES, REPEAT (runs per source,
# default 1), KAFKA_PARTITIONS (8), KAFKA_PER (lines per Kafka record, 1000),
# KINESIS_N (lines for kinesis, default N: kinesalite is slow to fill),
# BENCH_OUT (work directory), PORT_BASE (default 29000: brokers and stand-ins
# listen on PORT_BASE+0..9, kinesalite/dynalite on PORT_BASE+67/68),
# EXTRA_SOURCE_KEYS (YAML keys added to the kafka and kinesis sources),
# PPROF (set: run each source under pprofrun instead, writing $BENCH_OUT/<source>.cpu and .heap).
set -euo pipefail
cd "$(dirname "$0")/.."

n="${N:-2000000}"
sources="${SOURCES:-file kafka kinesis s3_sqs}"
repeat="${REPEAT:-1}"
parts="${KAFKA_PARTITIONS:-8}"
per="${KAFKA_PER:-1000}"
kin_n="${KINESIS_N:-$n}"
base="${PORT_BASE:-29000}"
extra="${EXTRA_SOURCE_KEYS:-}"
out="${BENCH_OUT:-/tmp/vpcflow-sources}"
mkdir -p "$out"
bin="$out/bin"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
go build -o "$bin/" ./cmd/vpcflow ./benchmarks/suite/kfakeserver ./benchmarks/suite/intake \
	./benchmarks/suite/s3sqsserver ./benchmarks/suite/kinesisload ./benchmarks/suite/pprofrun
vf="${VPCFLOW_BIN:-$bin/vpcflow}"

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 \
	AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

intake=127.0.0.1:$((base + 0))
ec2=127.0.0.1:$((base + 1))
broker=127.0.0.1:$((base + 2))
s3=127.0.0.1:$((base + 3))
sqs=127.0.0.1:$((base + 4))
enis=10000
seed=7
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT
tck=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# tree_ticks PID...: CPU ticks of the processes and their children.
tree_ticks() {
	local t=0 p c
	for p in "$@"; do
		t=$((t + $(ticks "$p")))
		for c in $(pgrep -P "$p" || true); do t=$((t + $(ticks "$c"))); done
	done
	echo "$t"
}
count() { curl -sf "http://$intake/count" | cut -d' ' -f1; }
wait_for() {
	for _ in $(seq 1 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "timed out waiting for: $*" >&2; return 1
}

"$bin/intake" -addr "$intake" -ec2 "$ec2" -enis "$enis" -seed "$seed" 2>"$out/intake.log" &
pids+=($!)
intake_pid=$!
wait_for curl -sf "http://$intake/count"

stages() {
	cat <<YAML
stages:
  parse: {type: parse_flowlog, inputs: [flows], format: $1}
  drop_internal: {type: cidr_filter, inputs: [parse], drop_when_both_in: ["10.255.0.0/16"]}
  eni: {type: eni_enrich, inputs: [drop_internal], endpoint: "http://$ec2", region: us-east-1, warm_up: {accounts: [default]}}
sinks:
  intake:
    type: http
    inputs: [eni]
    url: "http://$intake/receiver/v1/http/bench"
    preset: sumologic
    encoding: sumo_vpc_json
    compression: gzip
telemetry: {log_level: warn}
YAML
}

declare -A FILE_CPU
printf '| source | lines | CPU-s per 1M | x file | CPU-s per 1M (steady) | peak RSS MB | wall s | stand-in CPU-s | intake CPU-s | load |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'

# run NAME CONFIG LINES "STANDIN_PIDS": vpcflow until the intake has LINES, then SIGTERM.
run() {
	local name=$1 cfg=$2 want=$3 sp=${4:-} t0 s0 i0 tp c got wall user sys rss cpu ratio
	curl -sf -X POST "http://$intake/reset" >/dev/null
	s0=0; [ -n "$sp" ] && s0=$(tree_ticks $sp)
	i0=$(ticks "$intake_pid")
	t0=$(date +%s.%N)
	if [ -n "${PPROF:-}" ]; then
		"$bin/pprofrun" -config "$cfg" -cpuprofile "$out/$name.cpu" -memprofile "$out/$name.heap" >"$out/$name.out" 2>"$out/$name.log" &
		tp=$!; c=$tp
		( while kill -0 "$tp" 2>/dev/null; do grep VmHWM "/proc/$tp/status" 2>/dev/null | awk '{print $2}' >"$out/$name.hwm"; sleep 0.2; done ) &
	else
		/usr/bin/time -f '%e %U %S %M' -o "$out/$name.time" "$vf" run --config "$cfg" >"$out/$name.out" 2>"$out/$name.log" &
		tp=$!
		c=""
		for _ in $(seq 1 100); do c=$(pgrep -P "$tp" || true); [ -n "$c" ] && break; sleep 0.05; done
	fi
	local c0=-1 k0=0 k1=0 v
	while :; do
		got=$(count)
		if [ "$c0" -lt 0 ] && [ "$got" -gt 0 ]; then c0=$got; k0=$(ticks "$c"); fi
		v=$(ticks "$c"); [ "$v" -gt 0 ] && k1=$v # 0 once it exited (a file source ends by itself)
		[ "$got" -ge "$want" ] && break
		kill -0 "$c" 2>/dev/null || break
		sleep 0.1
	done
	[ "$got" -ge "$want" ] || echo "$name: only $got of $want lines arrived (see $out/$name.log)" >&2
	local steady="-"
	[ "$c0" -ge 0 ] && [ "$got" -gt "$c0" ] && [ "$k1" -gt 0 ] &&
		steady=$(awk -v k="$((k1 - k0))" -v t="$tck" -v n="$((got - c0))" 'BEGIN { printf "%.2f", k / t / (n / 1e6) }')
	kill -TERM "$c" 2>/dev/null || true
	wait "$tp" || true
	local sc="-"
	[ -n "$sp" ] && sc=$(awk -v k="$(($(tree_ticks $sp) - s0))" -v t="$tck" 'BEGIN { printf "%.2f", k / t }')
	local ic
	ic=$(awk -v k="$(($(ticks "$intake_pid") - i0))" -v t="$tck" 'BEGIN { printf "%.2f", k / t }')
	if [ -n "${PPROF:-}" ]; then
		echo "$name: profiles $out/$name.cpu $out/$name.heap; peak RSS $(($(cat "$out/$name.hwm" 2>/dev/null || echo 0) / 1024)) MB" >&2
		return
	fi
	read -r wall user sys rss <"$out/$name.time"
	cpu=$(awk -v u="$user" -v s="$sys" -v n="$got" 'BEGIN { printf "%.2f", (u + s) / (n / 1e6) }')
	[ "$name" = file ] && FILE_CPU[x]=$cpu
	ratio=$(awk -v c="$cpu" -v f="${FILE_CPU[x]:-0}" 'BEGIN { if (f > 0) printf "%.2f", c / f; else printf "-" }')
	printf '| %s | %d | %s | %s | %s | %.0f | %.1f | %s | %s | %s |\n' "$name" "$got" "$cpu" "$ratio" "$steady" \
		"$(awk -v r="$rss" 'BEGIN { print r / 1024 }')" \
		"$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" "$sc" "$ic" "$(cut -d' ' -f1 /proc/loadavg)"
}

for src in $sources; do
	case $src in
	file)
		flows="$out/flows-$n.log"
		[ -s "$flows" ] || "$bin/vpcflow" gen --count "$n" --enis "$enis" --seed "$seed" -o "$flows"
		{ echo "sources: {flows: {type: file, path: \"$flows\"}}"; stages default; } >"$out/file.yaml"
		for _ in $(seq 1 "$repeat"); do run file "$out/file.yaml" "$n"; done
		;;
	kafka)
		"$bin/kfakeserver" -port $((base + 2)) -partitions "$parts" -per "$per" -preload "$n" \
			-enis "$enis" -seed "$seed" >"$out/kfake.out" 2>"$out/kfake.log" &
		kp=$!
		pids+=("$kp")
		for _ in $(seq 1 3000); do grep -q '^ready' "$out/kfake.out" && break; sleep 0.1; done
		grep -q '^ready' "$out/kfake.out" || { echo "kfakeserver did not get ready" >&2; cat "$out/kfake.log" >&2; exit 1; }
		for i in $(seq 1 "$repeat"); do
			{
				echo "sources: {flows: {type: kafka, brokers: [\"$broker\"], topic: vpc-flow-logs, group: g$i-$RANDOM, start_from: earliest${extra:+, $extra}}}"
				stages default
			} >"$out/kafka.yaml"
			run kafka "$out/kafka.yaml" "$n" "$kp"
		done
		kill "$kp" 2>/dev/null || true
		;;
	s3_sqs)
		for _ in $(seq 1 "$repeat"); do
			"$bin/s3sqsserver" -s3 "$s3" -sqs "$sqs" -records "$n" -per-object 50000 \
				-enis "$enis" -seed "$seed" >"$out/s3sqs.out" 2>"$out/s3sqs.log" &
			sp=$!
			pids+=("$sp")
			for _ in $(seq 1 3000); do grep -q '^ready' "$out/s3sqs.out" && break; sleep 0.1; done
			read -r _ queue <"$out/s3sqs.out"
			{
				echo "sources: {flows: {type: s3_sqs, queue_url: \"$queue\", region: us-east-1, sqs_endpoint: \"http://$sqs\", s3_endpoint: \"http://$s3\", force_path_style: true, wait_time: 1s}}"
				stages auto
			} >"$out/s3.yaml"
			run s3_sqs "$out/s3.yaml" "$n" "$sp"
			kill "$sp" 2>/dev/null || true
			wait "$sp" 2>/dev/null || true
		done
		;;
	kinesis)
		env_lines=$(KINESALITE_PORT=$((base + 67)) DYNALITE_PORT=$((base + 68)) bash .ci/start-kinesalite.sh 2>"$out/kinesalite-start.log") || { echo "kinesalite did not start" >&2; continue; }
		eval "$env_lines"
		kin_pids=$(pgrep -f "kinesalite.js $((base + 67))|dynalite.js $((base + 68))" | tr '\n' ' ')
		for i in $(seq 1 "$repeat"); do
			stream="bench-$(date +%s)-$i"
			"$bin/kinesisload" -endpoint "$VPCFLOW_KINESIS_ENDPOINT" -stream "$stream" -shards 4 -records "$kin_n" \
				-enis "$enis" -seed "$seed" >"$out/kinesisload.out" 2>"$out/kinesisload.log"
			{
				echo "sources: {flows: {type: kinesis, stream: $stream, lease_table: $stream-leases, start_from: trim_horizon, region: us-east-1, endpoint: \"$VPCFLOW_KINESIS_ENDPOINT\", dynamodb_endpoint: \"$VPCFLOW_DYNAMODB_ENDPOINT\"${extra:+, $extra}}}"
				stages default
			} >"$out/kinesis.yaml"
			run kinesis "$out/kinesis.yaml" "$kin_n" "$kin_pids"
		done
		# shellcheck disable=SC2086
		kill $kin_pids 2>/dev/null || true
		;;
	esac
done
