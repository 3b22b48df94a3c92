#!/usr/bin/env bash
# Installs kinesalite and dynalite from the npm registry (once, into a cache
# directory), starts both on 127.0.0.1 in the background, waits until they
# answer and prints the export lines the Kinesis source's tests read:
#
#   eval "$(bash .ci/start-kinesalite.sh)"
#
# Environment: VPCFLOW_EMULATOR_DIR (cache, default /tmp/vpcflow-emulators),
# KINESALITE_PORT (default 4567), DYNALITE_PORT (default 4568).
# Diagnostics go to stderr; only export lines go to stdout.
set -euo pipefail

dir="${VPCFLOW_EMULATOR_DIR:-/tmp/vpcflow-emulators}"
kport="${KINESALITE_PORT:-4567}"
dport="${DYNALITE_PORT:-4568}"

command -v node >/dev/null || { echo "start-kinesalite: node is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "start-kinesalite: npm is required" >&2; exit 1; }

mkdir -p "$dir"
if [ ! -d "$dir/node_modules/kinesalite" ] || [ ! -d "$dir/node_modules/dynalite" ]; then
	[ -f "$dir/package.json" ] || echo '{"name":"vpcflow-emulators","private":true}' >"$dir/package.json"
	(cd "$dir" && npm install --no-audit --no-fund --loglevel=error kinesalite@3 dynalite@4) >&2
fi

# A client that aborts a request (a cancelled context) makes the emulators
# throw from a socket handler; log it and keep serving.
cat >"$dir/kinesalite.js" <<'JS'
process.on('uncaughtException', (e) => console.error('kinesalite: ignored:', e && e.message))
const port = parseInt(process.argv[2], 10)
require('kinesalite')({createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100})
  .listen(port, '127.0.0.1', () => console.error('kinesalite listening on 127.0.0.1:' + port))
JS
cat >"$dir/dynalite.js" <<'JS'
process.on('uncaughtException', (e) => console.error('dynalite: ignored:', e && e.message))
const port = parseInt(process.argv[2], 10)
require('dynalite')({createTableMs: 0, deleteTableMs: 0, updateTableMs: 0})
  .listen(port, '127.0.0.1', () => console.error('dynalite listening on 127.0.0.1:' + port))
JS

# answers reports whether something listens on 127.0.0.1:$1.
answers() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() { # name port
	local name=$1 port=$2
	if answers "$port"; then
		echo "start-kinesalite: $name already answers on 127.0.0.1:$port" >&2
		return
	fi
	# Detached from this script's output, so that $(...) returns at once.
	(cd "$dir" && exec nohup node "$name.js" "$port") </dev/null >"$dir/$name-$port.log" 2>&1 &
	for _ in $(seq 1 100); do
		answers "$port" && return
		sleep 0.1
	done
	echo "start-kinesalite: $name did not answer on 127.0.0.1:$port; log:" >&2
	cat "$dir/$name-$port.log" >&2
	exit 1
}

start kinesalite "$kport"
start dynalite "$dport"

echo "export VPCFLOW_KINESIS_ENDPOINT=http://127.0.0.1:$kport"
echo "export VPCFLOW_DYNAMODB_ENDPOINT=http://127.0.0.1:$dport"
