#!/usr/bin/env bash
# kafka (kfake in its own process, 6 partitions, N preloaded lines) -> parse_flowlog -> json file.
# Reports the steady rate (after the first write) and the whole run.
#   N=3000000 bash benchmarks/kafka-parse-file.sh
# MEM_LIMIT_MIB=512 runs vpcflow in a cgroup v1 memory group of that size (root
# needed), as a container with that memory limit would be.
set -u
OUT=${BENCH_OUT:-/tmp/vpcflow-kafka-bench}; mkdir -p "$OUT"; cd "$(dirname "$0")/.."; go build -o "$OUT/kfakeserver" ./benchmarks/suite/kfakeserver && go build -o "$OUT/vpcflow" ./cmd/vpcflow || exit 1; cd "$OUT"
cat > kp.yaml <<YAML
sources:
  flows: {type: kafka, brokers: ["127.0.0.1:19192"], topic: vpc-flow-logs, group: bench, start_from: earliest, payload: lines}
stages:
  parse: {type: parse_flowlog, inputs: [flows]}
sinks:
  out: {type: file, inputs: [parse], path: kafka-out.json, encoding: json}
telemetry: {log_level: warn}
YAML
N=${N:-3000000}
./kfakeserver -port 19192 -partitions 6 -preload "$N" > kfake.out 2> kfake.err &
KPID=$!
for i in $(seq 1 300); do grep -q ready kfake.out 2>/dev/null && break; sleep 1; done
cat kfake.out
rm -f kafka-out.json; touch kafka-out.json
start=$(date +%s.%N)
RUN=(./vpcflow run --config kp.yaml)
if [ -n "${MEM_LIMIT_MIB:-}" ]; then
	CG=/sys/fs/cgroup/memory/vpcflow-bench-$$
	mkdir "$CG" && echo $((MEM_LIMIT_MIB << 20)) > "$CG/memory.limit_in_bytes" || exit 1
	RUN=(sh -c 'echo $$ > "$0/cgroup.procs" && exec ./vpcflow run --config kp.yaml' "$CG")
fi
/usr/bin/time -f '%e %U %S %M' -o ktime.txt "${RUN[@]}" 2> vk.err &
VPID=$!
while [ "$(wc -l < kafka-out.json)" -eq 0 ]; do kill -0 $VPID 2>/dev/null || break; sleep 0.05; done
first=$(date +%s.%N); n0=$(wc -l < kafka-out.json)
while true; do
	n=$(wc -l < kafka-out.json)
	[ "$n" -ge "$N" ] && break
	kill -0 $VPID 2>/dev/null || break # killed (out of memory?)
	sleep 0.1
done
end=$(date +%s.%N)
kill -TERM $(pgrep -f "^./vpcflow run --config kp.yaml") 2>/dev/null
wait $VPID
echo "steady: $(echo "($n - $n0) / ($end - $first)" | bc) records/s after the first write"
echo "records=$n seconds=$(echo "$end - $start" | bc) rate=$(echo "$n / ($end - $start)" | bc)"
echo "time (wall user sys maxrss_kb): $(cat ktime.txt)"
kill $KPID; wait $KPID 2>/dev/null
if [ -n "${MEM_LIMIT_MIB:-}" ]; then
	echo "cgroup $MEM_LIMIT_MIB MiB: $(grep oom_kill "$CG/memory.oom_control" | tr '\n' ' ')"
	rmdir "$CG"
fi
