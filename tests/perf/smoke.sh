#!/bin/bash
# perf_smoke: run warren-perf for ~2 s against a Warren started here.
#   smoke.sh WARREN_BIN WARREN_PERF_BIN
# Asserts: the run did not fail, consumed > 0, everything published was
# consumed (drained), and Warren exits 0 on SIGTERM. No rate thresholds.
set -euo pipefail
warren=${1:?usage: smoke.sh WARREN_BIN WARREN_PERF_BIN}
perf=${2:?usage: smoke.sh WARREN_BIN WARREN_PERF_BIN}
dir=$(mktemp -d)
wpid=
cleanup() {
  if [ -n "$wpid" ] && kill -0 "$wpid" 2>/dev/null; then kill -KILL "$wpid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "perf_smoke: FAIL: $*" >&2; [ -f "$dir/warren.log" ] && tail -20 "$dir/warren.log" >&2; exit 1; }

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$warren" --port "$port" --bind 127.0.0.1 --data-dir "$dir/data" >"$dir/warren.log" 2>&1 &
wpid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$wpid" 2>/dev/null || fail "warren exited at start-up"
  sleep 0.1
done

"$perf" --port "$port" --time 2 --json --quiet --prefetch 1000 --multi-ack 100 >"$dir/out.json" ||
  fail "warren-perf exited $?: $(cat "$dir/out.json")"
echo "warren-perf: $(cat "$dir/out.json")"
/usr/bin/python3 - "$dir/out.json" <<'EOF' || fail "bad summary"
import json, sys
r = json.load(open(sys.argv[1]))
problems = []
if r["failed"]: problems.append("run failed")
if r["consumed"] <= 0: problems.append("consumed nothing")
if r["published"] != r["consumed"]: problems.append("published %d != consumed %d" % (r["published"], r["consumed"]))
if not r["drained"]: problems.append("not drained")
if r["lat_p50_us"] <= 0: problems.append("no latency samples")
for p in problems: print("perf_smoke:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF

kill -TERM "$wpid"
rc=0
wait "$wpid" || rc=$?
wpid=
[ "$rc" -eq 0 ] || fail "warren exited $rc after SIGTERM"
echo "perf_smoke: ok"
