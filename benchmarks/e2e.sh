#!/usr/bin/env bash
# End-to-end throughput of the file pipeline on this machine:
#   vpcflow gen -> file -> vpcflow run (file -> parse_flowlog -> cidr_filter -> json file)
# Reports records/s, CPU seconds per million records and peak RSS.
#
#   bash benchmarks/e2e.sh [records]        (default 5,000,000)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-5000000}"
out="${BENCH_OUT:-/tmp/vpcflow-bench}"
mkdir -p "$out"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
go build -o "$out/vpcflow" ./cmd/vpcflow

if [ ! -s "$out/flows-$n.log" ]; then
	"$out/vpcflow" gen --count "$n" --enis 10000 --seed 7 -o "$out/flows-$n.log"
fi
bytes=$(stat -c %s "$out/flows-$n.log")

run() { # name config
	local name=$1 cfg=$2
	/usr/bin/time -f '%e %U %S %M' -o "$out/time.txt" "$out/vpcflow" run --config "$cfg" 2>"$out/$name.log" >/dev/null
	read -r wall user sys rss <"$out/time.txt"
	awk -v name="$name" -v n="$n" -v b="$bytes" -v w="$wall" -v u="$user" -v s="$sys" -v rss="$rss" 'BEGIN {
		printf "%-28s %9d records  %6.2fs wall  %10.0f records/s  %6.1f MB/s  %5.2f CPU-s per 1M records  peak RSS %4.0f MB\n",
			name, n, w, n / w, b / w / 1e6, (u + s) / (n / 1e6), rss / 1024 }'
}

cat >"$out/file-json.yaml" <<YAML
sources: {in: {type: file, path: "$out/flows-$n.log"}}
stages:
  parse: {type: parse_flowlog, inputs: [in]}
  internal: {type: cidr_filter, inputs: [parse], drop_when_both_in: ["192.168.0.0/16"]}
sinks: {out: {type: file, inputs: [internal], path: "$out/out.json", encoding: json}}
YAML
cat >"$out/file-sumo.yaml" <<YAML
sources: {in: {type: file, path: "$out/flows-$n.log"}}
stages:
  parse: {type: parse_flowlog, inputs: [in]}
sinks: {out: {type: file, inputs: [parse], path: "$out/out.sumo", encoding: sumo_vpc_json}}
YAML
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(go version | cut -d' ' -f3), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
run "file->parse->cidr->json" "$out/file-json.yaml"
run "file->parse->sumo_vpc_json" "$out/file-sumo.yaml"
rm -f "$out/out.json" "$out/out.sumo"
