#!/usr/bin/env bash
# Local split cluster on loopback, for demos and tests: a Kafka broker
# (devkafka), two plan executors, one query node and one Lance Agent, all
# over one data directory. Ctrl-C (or SIGTERM) stops everything.
#
#   scripts/cluster.sh [DATA_DIR]
#
# Environment: QUERY_PORT (8080), EXEC_PORTS ("8815 8816"), KAFKA_PORT
# (9092), ADMIN_BASE (9100: executors' and agent's /metrics ports),
# SARISSA_BIN (built into bin/ when unset), CACHE_DIR (executors' disk
# cache; empty: none), EXTRA_AGENT_FLAGS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

data=${1:-./sarissa-cluster-data}
query_port=${QUERY_PORT:-8080}
exec_ports=(${EXEC_PORTS:-8815 8816})
kafka_port=${KAFKA_PORT:-9092}
admin_base=${ADMIN_BASE:-9100}
logs=$data/logs
mkdir -p "$data" "$logs"

simd=""
[ "$(go env GOARCH)" = amd64 ] && simd=GOEXPERIMENT=simd
bin=${SARISSA_BIN:-}
if [ -z "$bin" ]; then
  bin=bin/sarissa
  env $simd go build -o "$bin" ./cmd/sarissa
fi
devkafka=bin/devkafka
go build -o "$devkafka" ./tools/devkafka

pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

# wait_line FILE PATTERN: until the process logging to FILE printed PATTERN.
wait_line() {
  for _ in $(seq 1 300); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "cluster: timed out waiting for '$2' in $1" >&2
  cat "$1" >&2
  exit 1
}

"$devkafka" --listen "127.0.0.1:$kafka_port" --topic sarissa-events >"$logs/devkafka.out" 2>"$logs/devkafka.err" &
pids+=($!)
wait_line "$logs/devkafka.out" "devkafka listening on"
events="kafka://127.0.0.1:$kafka_port/sarissa-events"

executors=""
i=0
for port in "${exec_ports[@]}"; do
  cache=()
  [ -n "${CACHE_DIR:-}" ] && cache=(--cache-dir "$CACHE_DIR/executor-$i")
  "$bin" serve --target executor --data-dir "$data" --listen "127.0.0.1:$((admin_base + i))" \
    --flight-listen "127.0.0.1:$port" "${cache[@]}" >"$logs/executor-$i.out" 2>"$logs/executor-$i.err" &
  pids+=($!)
  wait_line "$logs/executor-$i.out" "sarissa listening on"
  executors+="${executors:+,}127.0.0.1:$port"
  i=$((i + 1))
done

"$bin" serve --target agent --data-dir "$data" --listen "127.0.0.1:$((admin_base + 50))" \
  --events "$events" ${EXTRA_AGENT_FLAGS:-} >"$logs/agent.out" 2>"$logs/agent.err" &
pids+=($!)
wait_line "$logs/agent.out" "sarissa listening on"

"$bin" serve --target query --data-dir "$data" --listen "127.0.0.1:$query_port" \
  --executors "$executors" --events "$events" >"$logs/query.out" 2>"$logs/query.err" &
pids+=($!)
wait_line "$logs/query.out" "sarissa listening on"

cat <<EOF
sarissa cluster up
  query node  http://127.0.0.1:$query_port   (lancedb.connect("db://mydb", { apiKey: "any", hostOverride: "http://127.0.0.1:$query_port" }))
  executors   $executors
  agent       http://127.0.0.1:$((admin_base + 50))/v1/agent/jobs
  kafka       127.0.0.1:$kafka_port (topic sarissa-events)
  data        $data
  logs        $logs
Ctrl-C stops the cluster.
EOF
wait -n "${pids[@]}" || true
echo "cluster: a process exited; stopping" >&2
