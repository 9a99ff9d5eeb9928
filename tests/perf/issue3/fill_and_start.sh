#!/bin/bash
# fill_and_start.sh DIR [N]: N (default 10M) x 1 KB persistent messages into DIR, then start-up times
D=${1:?usage: fill_and_start.sh DATA_DIR [N]}; N=${2:-10000000}; B=${BUILD:-build-rel}; PORT=${PORT:-20990}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$D"; mkdir -p "$D"
"$B/warren" --port "$PORT" --bind 127.0.0.1 --data-dir "$D" > "$D.log" 2>&1 &
P=$!
for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.01; done
R0=$(awk '/VmRSS/{print $2}' /proc/$P/status)
t0=$(date +%s.%N)
"$B/tests/durability/fill_queue" "$PORT" q "$N" 1024 || echo "fill failed"
t1=$(date +%s.%N)
R1=$(awk '/VmRSS/{print $2}' /proc/$P/status)
echo "fill: $N in $(echo "$t1-$t0" | bc) s; RSS $R0 -> $R1 kB"
kill $P; wait $P
echo "segments: $(ls "$D/log" | grep -c 'seg$'), indexes: $(ls "$D/log" | grep -c 'idx$'), $(du -sh "$D/log" | cut -f1)"
BUILD=$B PORT=$PORT "$here/start_times.sh" "$D"
