#!/usr/bin/env bash
# Throughput of a busy pipeline with and without `vpcflow tap` attached:
#   FIFO -> vpcflow run (file -> parse_flowlog -> cidr_filter -> json file)
# Each round runs, in turn: no tap; `vpcflow tap parse` (json, the default
# 1000 records/s); `vpcflow tap parse --rate 1000000` (the tap copies all it
# can, a slow reader's share dropped and counted). Alternating the modes
# spreads the noise of a shared machine over all of them; the summary gives
# each mode's median and its ratio to no tap.
#
#   bash benchmarks/tap.sh [records] [rounds]        (default 3,000,000 and 7)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-3000000}"
rounds="${2:-7}"
out="${BENCH_OUT:-/tmp/vpcflow-bench}"
port="${TAP_BENCH_PORT:-18940}"
mkdir -p "$out"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
go build -o "$out/vpcflow" ./cmd/vpcflow
if [ ! -s "$out/flows-$n.log" ]; then
	"$out/vpcflow" gen --count "$n" --enis 10000 --seed 7 -o "$out/flows-$n.log"
fi
fifo="$out/tap-bench.fifo"
cat >"$out/tap-bench.yaml" <<YAML
sources: {in: {type: file, path: "$fifo"}}
stages:
  parse: {type: parse_flowlog, inputs: [in]}
  internal: {type: cidr_filter, inputs: [parse], drop_when_both_in: ["192.168.0.0/16"]}
sinks: {out: {type: file, inputs: [internal], path: "$out/tap-bench.json", encoding: json}}
telemetry: {listen: "127.0.0.1:$port", tap: true}
YAML

run() { # mode: none | tap | tap-all; prints records/s
	local mode=$1 tap=""
	rm -f "$fifo" && mkfifo "$fifo"
	"$out/vpcflow" run --config "$out/tap-bench.yaml" 2>"$out/tap-bench.log" &
	local pid=$!
	until curl -sf "http://127.0.0.1:$port/graph" >/dev/null; do sleep 0.05; done
	case $mode in
	tap) "$out/vpcflow" tap parse --url "127.0.0.1:$port" >"$out/tap.out" 2>"$out/tap.err" & tap=$! ;;
	tap-all) "$out/vpcflow" tap parse --rate 1000000 --url "127.0.0.1:$port" >"$out/tap.out" 2>"$out/tap.err" & tap=$! ;;
	esac
	if [ -n "$tap" ]; then
		until grep -q tapping "$out/tap.err" 2>/dev/null; do sleep 0.05; done
	fi
	local start end
	start=$(date +%s.%N)
	cat "$out/flows-$n.log" >"$fifo"
	wait "$pid"
	end=$(date +%s.%N)
	if [ -n "$tap" ]; then
		wait "$tap" || true
		echo "  ($mode: $(wc -l <"$out/tap.out") records tapped)" >&2
	fi
	awk -v n="$n" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f\n", n / (e - s) }'
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(go version | cut -d' ' -f3), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A all
for r in $(seq "$rounds"); do
	line="round $r:"
	for mode in none tap tap-all; do
		v=$(run "$mode")
		all[$mode]+="$v "
		line+="  $mode $v"
	done
	echo "$line records/s"
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
base=$(echo "${all[none]}" | median)
for mode in none tap tap-all; do
	m=$(echo "${all[$mode]}" | median)
	awk -v mode="$mode" -v m="$m" -v b="$base" 'BEGIN { printf "%-8s median %9.0f records/s  %6.1f %% of no tap\n", mode, m, 100 * m / b }'
done
rm -f "$fifo" "$out/tap-bench.json"
