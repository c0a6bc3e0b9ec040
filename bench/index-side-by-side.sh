#!/usr/bin/env bash
# One side-by-side run of the vector indexes (issue "Vector indexes"):
# for every kind, stock LanceDB embedded and Sarissa over REST run the same
# client script (bench/index-side-by-side.mjs) on the same data and
# parameters, and Sarissa in-process runs bench/indexbench; then the
# comparison table is printed. Runs are sequential (the machine has two
# cores); every engine gets a fresh process (and Sarissa a fresh server) per
# kind so that peak memory is per build.
#
#   bench/index-side-by-side.sh DATA_PREFIX OUT_DIR [KINDS]
#
# DATA_PREFIX: a dump of ../shared/bench/lancedb-peer (--dump 1 --indexes none).
# KINDS: default "ivfpq hnswsq ivfflat ivfsq". Extra engine-independent knobs
# come from the environment: PARTITIONS (IVF kinds), HNSW_PARTITIONS,
# SUBVECTORS, M, EFC, NPROBES, REFINE, EF, QUERIES, REPEATS, ENGINES (default
# "lancedb rest inproc").
set -euo pipefail

data=${1:?data prefix}
out=${2:?output directory}
kinds=${3:-"ivfpq hnswsq ivfflat ivfsq"}
engines=${ENGINES:-"lancedb rest inproc"}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"

partitions=${PARTITIONS:-0}
# IVF_HNSW_* default to one graph per million rows; keep that unless asked.
hnsw_partitions=${HNSW_PARTITIONS:-0}
subvectors=${SUBVECTORS:-0}
m=${M:-20}
efc=${EFC:-300}
nprobes=${NPROBES:-5,10,20,40,80}
refine=${REFINE:-0,10}
ef=${EF:-10,20,40,80,160}
queries=${QUERIES:-200}
repeats=${REPEATS:-3}

common=(--data "$data" --subvectors "$subvectors" --m "$m" --efc "$efc"
  --nprobes "$nprobes" --refine "$refine" --ef "$ef" --queries "$queries" --repeats "$repeats")

simd=""
[ "$(go env GOARCH)" = amd64 ] && simd="GOEXPERIMENT=simd"
env $simd go build -o "$out/sarissa" "$here/cmd/sarissa"
env $simd go build -o "$out/indexbench" "$here/bench/indexbench"

declare -A gokind=([ivfpq]=IVF_PQ [hnswsq]=IVF_HNSW_SQ [ivfflat]=IVF_FLAT [ivfsq]=IVF_SQ)

for kind in $kinds; do
  parts=$partitions
  [ "$kind" = hnswsq ] && parts=$hnsw_partitions
  if [[ " $engines " == *" lancedb "* && "$kind" != ivfsq ]]; then
    echo "== lancedb $kind" >&2
    dir=$(mktemp -d)
    node "$here/bench/index-side-by-side.mjs" "${common[@]}" --partitions "$parts" --engine lancedb --kind "$kind" --dir "$dir" --out "$out/lancedb-$kind.json"
    rm -rf "$dir"
  fi
  if [[ " $engines " == *" rest "* ]]; then
    echo "== sarissa over REST $kind" >&2
    dir=$(mktemp -d)
    port=$((20000 + RANDOM % 20000))
    "$out/sarissa" serve --listen "127.0.0.1:$port" --data-dir "$dir" --log-level warn >"$out/server-$kind.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    node "$here/bench/index-side-by-side.mjs" "${common[@]}" --partitions "$parts" --engine rest --host "http://127.0.0.1:$port" --server-pid "$pid" --kind "$kind" --out "$out/rest-$kind.json" || { kill $pid; exit 1; }
    kill $pid; wait $pid 2>/dev/null || true
    rm -rf "$dir"
  fi
  if [[ " $engines " == *" inproc "* ]]; then
    echo "== sarissa in-process $kind" >&2
    args=(-data "$data" -kind "${gokind[$kind]}" -nprobes "$nprobes" -refine "$refine" -ef "$ef" -queries "$queries" -repeats "$repeats")
    [ "$parts" != 0 ] && args+=(-partitions "$parts")
    [ "$kind" = ivfpq ] && [ "$subvectors" != 0 ] && args+=(-subvectors "$subvectors")
    [ "$kind" = hnswsq ] && args+=(-m "$m" -efc "$efc")
    "$out/indexbench" "${args[@]}" >"$out/inproc-$kind.json"
  fi
done
node "$here/bench/index-side-by-side.mjs" --report "$out"/*.json
