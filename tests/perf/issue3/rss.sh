#!/bin/bash
# rss.sh N: RSS per queued message while filling N x 1 KB persistent messages
N=${1:-2000000}; B=${BUILD:-build-rel}; PORT=${PORT:-20991}
D=$(mktemp -d /tmp/warren-rss-XXXXXX)
"$B/warren" --port "$PORT" --bind 127.0.0.1 --data-dir "$D" > "$D.log" 2>&1 &
P=$!
for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.01; done
R0=$(awk '/VmRSS/{print $2}' /proc/$P/status)
"$B/tests/durability/fill_queue" "$PORT" q "$N" 1024 >/dev/null
R1=$(awk '/VmRSS/{print $2}' /proc/$P/status)
echo "N=$N RSS $R0 -> $R1 kB: $(echo "($R1-$R0)*1024/$N" | bc -l | cut -c1-5) B/msg"
kill $P; wait $P; rm -rf "$D" "$D.log"
