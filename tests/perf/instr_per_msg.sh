#!/bin/bash
# instr_per_msg.sh — the broker's instructions per message under callgrind, a figure
# that does not move with the machine's load (wall-clock rates on a shared 2-CPU
# machine do), for comparing two builds of Warren (e.g. before and after a refactor).
#
#   tests/perf/instr_per_msg.sh WARREN_BINARY [RUNS [CONFIG_FILE]]
#
# Starts the broker under `valgrind --tool=callgrind`, runs the neutral rabbitmq-c
# load tool ../shared/tools/amqpload.c (built into a temp dir) for 200,000 16 B
# transient messages (1 producer, 1 consumer, acks) then 50,000 16 B persistent
# messages to a durable queue with 1,000 confirms in flight, stops the broker, and
# prints the broker's total instructions and instructions per message, per run.
set -euo pipefail
w=${1:?usage: instr_per_msg.sh WARREN_BINARY [RUNS]}
runs=${2:-2}
conf=()
[ -n "${3:-}" ] && conf=(--config "$(cd "$(dirname "$3")" && pwd)/$(basename "$3")")
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/amqpload" "$root/../shared/tools/amqpload.c" -lrabbitmq -lpthread
for r in $(seq "$runs"); do
  port=$((26000 + RANDOM % 1000))
  mkdir -p "$tmp/data$r"
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$r" "$w" --port "$port" --data-dir "$tmp/data$r" \
    --threads 2 "${conf[@]}" >"$tmp/log.$r" 2>&1 &
  vp=$!
  for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.5; done
  "$tmp/amqpload" --port "$port" --count 200000 --queue t1 >/dev/null
  "$tmp/amqpload" --port "$port" --count 50000 --persistent --durable --confirm 1000 --queue t2 >/dev/null
  kill -TERM "$vp"; wait "$vp" || true
  tot=$(callgrind_annotate "$tmp/cg.$r" 2>/dev/null | awk '/PROGRAM TOTALS/ && !n++ {gsub(",","",$1); print $1}')
  echo "run $r: $tot instructions, $((tot / 250000)) per message (250,000 messages)"
done
