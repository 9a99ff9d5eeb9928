#!/bin/bash
# start_times.sh DIR: start-up of an existing data dir — warm, cold, cold + log.verify_on_start
D=${1:?usage: start_times.sh DATA_DIR}; B=${BUILD:-build-rel}; PORT=${PORT:-20992}
ready() { for _ in $(seq 6000); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return 0; sleep 0.01; done; return 1; }
conf=$(mktemp); echo "log.verify_on_start = true" > "$conf"
for mode in warm cold cold-verify; do
  args=(); [ $mode = cold-verify ] && args=(--config "$conf")
  [ $mode != warm ] && { sync; echo 3 > /proc/sys/vm/drop_caches; }
  t0=$(date +%s.%N)
  "$B/warren" --port "$PORT" --bind 127.0.0.1 --data-dir "$D" "${args[@]}" >> "$D.st.log" 2>&1 &
  P=$!; ready; t1=$(date +%s.%N)
  echo "$mode: start to listening $(echo "$t1-$t0" | bc) s, RSS $(awk '/VmRSS/{print $2}' /proc/$P/status) kB; $(grep 'recovered in' "$D.st.log" | tail -1 | sed 's/.*\] //')"
  kill $P; wait $P
done
rm -f "$conf"
