#!/bin/bash
# cpu_start.sh BINARY DIR: CPU time (user+sys) until the broker listens on DIR
BIN=${1:?usage: cpu_start.sh BINARY DATA_DIR}; D=${2:?}; PORT=${PORT:-20994}
"$BIN" --port "$PORT" --bind 127.0.0.1 --data-dir "$D" >> "$D.cpu.log" 2>&1 &
P=$!
for _ in $(seq 6000); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.01; done
read -r u s <<< "$(awk '{print $14, $15}' /proc/$P/stat)"
echo "cpu $(( (u+s)*1000/$(getconf CLK_TCK) )) ms; $(grep 'recovered in' "$D.cpu.log" | tail -1 | sed 's/.*\] //')"
kill $P; wait $P
